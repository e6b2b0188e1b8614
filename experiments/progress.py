"""One line per run started and finished, with the runs left and an estimate of the time.

The estimate weighs each run by its configuration's relative cost, not by the mean of the
runs finished so far: calls list the cheap configurations first (Base, the baselines) and
the heavy ones (counterfactual layers) last, and a few seconds of process start-up dominate
a small run. A run's time is taken as ``start-up + unit x cost``; the unit (and the start-up,
once runs of different costs have finished) is fitted to the runs this call finished.
"""
import json
import os
import sys
import time

from experiments.summary import duration

# Seconds per epoch on the public Taobao split, one thread (docs/reproducing.md, "Measured
# on Taobao"):
# what sets the relative cost of the models without counterfactual layers. SVD++, MGAT,
# InvRL and DMRL: their Taobao Table 2 runs (results/table2/taobao) scaled by MMGCN's there.
EPOCH_COST = {"bprmf": 0.6, "lightgcn": 1.2, "ngcf": 2.5, "vbpr": 1.7, "mmgcn": 5.1,
              "svdpp": 1.0, "mgat": 7.3, "invrl": 3.0, "dmrl": 28.0}
DEFAULT_EPOCH_COST = 2.0  # Base/V/T of MCLN, and models not measured
# MCLN: each counterfactual layer costs this per input it mixes (ID, image, text), on top of
# DEFAULT_EPOCH_COST (fits n_mca 1..5 and V&CL against the full model).
COUNTERFACTUAL_LAYER_COST = 4.5
STARTUP_SECONDS = 20.0  # TensorFlow's import, the graph, the first load, before a fit


def epoch_cost(settings):
    """Relative seconds per epoch of a run with these recorded ``settings``."""
    model = settings.get("model", "mcln")
    if model != "mcln":
        return EPOCH_COST.get(model, DEFAULT_EPOCH_COST)
    from model.variants import resolve  # TensorFlow-free, as the catalogue
    try:
        _, mixed = resolve(settings.get("variant", "full"),
                           str(settings.get("modalities", "image,text")).split(","))
    except ValueError:
        mixed = ()
    return DEFAULT_EPOCH_COST + COUNTERFACTUAL_LAYER_COST * int(settings.get("n_mca") or 0) \
        * len(mixed)


def run_cost(run):
    """A run's relative cost: its epoch cost times its epochs."""
    settings = run.settings or {}
    return epoch_cost(settings) * max(1, int(settings.get("epochs") or 1))


def fitted(done):
    """(start-up seconds, seconds per unit of cost) from ``done`` [(cost, seconds)]."""
    costs = [cost for cost, _ in done]
    shortest = min(seconds for _, seconds in done)
    startup = min(STARTUP_SECONDS, shortest / 2.0)
    if len(set(costs)) > 1:  # least squares of seconds = startup + unit x cost
        mean_cost = sum(costs) / len(done)
        mean_seconds = sum(seconds for _, seconds in done) / len(done)
        spread = sum((cost - mean_cost) ** 2 for cost in costs)
        unit = sum((cost - mean_cost) * (seconds - mean_seconds)
                   for cost, seconds in done) / spread
        if unit > 0:
            startup = min(max(0.0, mean_seconds - unit * mean_cost), shortest)
    unit = max(0.0, sum(seconds for _, seconds in done) - startup * len(done)) / sum(costs)
    return startup, unit


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
    """Counts the runs of one call and estimates the time left: each run not finished takes
    start-up + unit x its cost (see the module's docstring), less what a running one has
    had, divided by the runs going at once. ``runs``: the call's runs, for their costs
    (without them, every run costs the same)."""

    def __init__(self, prefix, total, workers, stream=None, clock=time.time, runs=None):
        self.prefix, self.total, self.workers = prefix, total, workers
        self.stream, self.clock = stream or sys.stdout, clock
        self.started_count, self.durations, self.start_times = 0, [], {}
        self.costs = {run.directory: run_cost(run) for run in runs or ()}
        self.done = []  # (cost, seconds) of the runs finished without failing
        self.ended = set()  # directories of the runs finished, failed or not

    def left(self):
        return self.total - len(self.durations)

    def estimate(self):
        if not self.done:
            return "time left unknown"
        startup, unit = fitted(self.done)
        if self.costs:
            waiting = [cost for directory, cost in self.costs.items()
                       if directory not in self.ended and directory not in self.start_times]
        else:
            waiting = [1.0] * max(0, self.left() - len(self.start_times))
        now = self.clock()
        seconds = sum(startup + unit * cost for cost in waiting) + sum(
            max(0.0, startup + unit * self.costs.get(directory, 1.0) - (now - began))
            for directory, began in self.start_times.items())
        return "estimate: about %s left" % duration(seconds / max(1, self.workers))

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
        self.ended.add(run.directory)
        if not failure:
            self.done.append((self.costs.get(run.directory, 1.0), seconds))
        if failure:
            self._say("FAILED %s seed %d after %s: %s; log: %s (%d left)" % (
                run.config.name, run.seed, duration(seconds), failure,
                os.path.join(run.directory, "log.txt"), self.left()))
            return
        figure = headline(run.directory)
        self._say("finished %s seed %d in %s%s (%d of %d done, %d left, %s)" % (
            run.config.name, run.seed, duration(seconds), ": " + figure if figure else "",
            len(self.durations), self.total, self.left(), self.estimate()))

    def reused(self, run, line):
        """``run`` was copied from a twin that finished meanwhile: one run fewer to train."""
        self.total -= 1
        self.costs.pop(run.directory, None)
        self._say(line)

    def note(self, text):
        self._say(text)
