"""One line per run started and finished, with the runs left and an estimate of the time."""
import json
import os
import sys
import time

from experiments.summary import duration


def headline(directory):
    """``hit@10 0.6120`` from a finished run's results.json (its reported figure), or ''."""
    try:
        with open(os.path.join(directory, "results.json")) as f:
            results = json.load(f)
    except (OSError, ValueError):
        return ""
    figures = results.get("test_at_best") or results.get("best") or {}
    metric = results.get("hyperparameters", {}).get("select_metric") or "hit@10"
    metric = metric[len("valid_"):] if metric.startswith("valid_") else metric
    return "%s %.4f" % (metric, figures[metric]) if metric in figures else ""


class Progress(object):
    """Counts the runs of one call; the estimate is the mean duration of the runs finished
    so far in this call, times the runs left, divided by the runs going at once."""

    def __init__(self, prefix, total, workers, stream=None, clock=time.time):
        self.prefix, self.total, self.workers = prefix, total, workers
        self.stream, self.clock = stream or sys.stdout, clock
        self.started_count, self.durations, self.start_times = 0, [], {}

    def left(self):
        return self.total - len(self.durations)

    def estimate(self):
        if not self.durations:
            return "time left unknown"
        mean = sum(self.durations) / len(self.durations)
        return "about %s left" % duration(mean * self.left() / max(1, self.workers))

    def _say(self, text):
        self.stream.write("[%s] %s\n" % (self.prefix, text))
        self.stream.flush()

    def started(self, run):
        self.started_count += 1
        self.start_times[run.directory] = self.clock()
        self._say("started %s seed %d (%s; run %d of %d, %d left, %s)" % (
            run.config.name, run.seed, run.state, self.started_count, self.total,
            self.left(), self.estimate()))

    def finished(self, run, failure=None):
        """Report the end of ``run``; ``failure``: None or what went wrong."""
        seconds = self.clock() - self.start_times.pop(run.directory)
        self.durations.append(seconds)
        if failure:
            self._say("FAILED %s seed %d after %s: %s; log: %s (%d left)" % (
                run.config.name, run.seed, duration(seconds), failure,
                os.path.join(run.directory, "log.txt"), self.left()))
            return
        figure = headline(run.directory)
        self._say("finished %s seed %d in %s%s (%d of %d done, %d left, %s)" % (
            run.config.name, run.seed, duration(seconds), ": " + figure if figure else "",
            len(self.durations), self.total, self.left(), self.estimate()))

    def note(self, text):
        self._say(text)
