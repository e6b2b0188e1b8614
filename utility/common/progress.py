"""Progress on long work: a bar on a terminal, silence in a log file, and the run's time left.

``progress`` shows a tqdm bar (rate and time left) only when a person is watching: stderr is
a terminal and the CI variable is unset. Otherwise it yields the items unchanged and prints
nothing, so log files keep only the plain per-epoch lines; work with no lines of its own
(encoding thousands of titles or pictures) asks for a plain line every ``report_seconds``
instead, so a log shows it moving.

``TimeLeft`` estimates the rest of a whole run from the mean epoch and evaluation seconds
seen so far, for the end of each per-epoch line: ``(~12m left)``.
"""
import os
import sys
import time

REPORT_SECONDS = 60  # how often unwatched long work prints where it is


def watched():
    """True when a progress bar would reach a person: stderr is a tty and CI is not set."""
    return not os.environ.get("CI") and sys.stderr.isatty()


def progress(iterable, total, description, report_seconds=None, clock=time.time):
    """``iterable``'s items; on a watched terminal with a transient bar of ``total`` steps,
    else with ``description: done/total (percent), ~time left`` on stderr at most every
    ``report_seconds`` (None: silent)."""
    if not watched():
        if report_seconds is None:
            return iterable
        return _reported(iterable, total, description, report_seconds, clock)
    from tqdm import tqdm  # imported only when a bar is shown
    # leave=False: the finished bar is erased, so the per-epoch line that follows stands alone
    return tqdm(iterable, total=total, desc=description, leave=False, file=sys.stderr,
                dynamic_ncols=True)


def _reported(iterable, total, description, report_seconds, clock):
    started = last = clock()
    for done, item in enumerate(iterable, 1):
        yield item
        now = clock()
        if now - last >= report_seconds and done < total:
            last = now
            left = (now - started) / done * (total - done)
            sys.stderr.write("%s: %d/%d (%d%%), ~%s left\n" % (
                description, done, total, 100 * done // total, duration_text(left)))
            sys.stderr.flush()


def evaluated_epochs(first, last, eval_interval):
    """How many epochs in first..last (inclusive) evaluate: every ``eval_interval``-th and
    the last one of the run (``last``), as main.py does."""
    if last < first:
        return 0
    multiples = last // eval_interval - (first - 1) // eval_interval
    return multiples + (0 if last % eval_interval == 0 else 1)


def duration_text(seconds):
    """``42s``, ``12m``, ``3h05m``: coarse on purpose, it is an estimate."""
    seconds = int(round(seconds))
    if seconds < 60:
        return "%ds" % seconds
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return "%dm" % minutes
    return "%dh%02dm" % divmod(minutes, 60)


class TimeLeft(object):
    """Estimated seconds left in a run of ``epochs`` epochs evaluated every ``eval_interval``.

    Early stopping (--patience) can end a run sooner, so the estimate is an upper bound.
    Until an evaluation has been timed only training is counted, shown as ``~12m+``.
    """

    def __init__(self, epochs, eval_interval):
        self.epochs, self.eval_interval = epochs, eval_interval
        self.train_seconds, self.eval_seconds = [], []

    def add(self, record):
        """Take a history record (``train_seconds``, maybe ``eval_seconds``) into account."""
        self.train_seconds.append(record["train_seconds"])
        if "eval_seconds" in record:
            self.eval_seconds.append(record["eval_seconds"])

    def seconds(self, epoch):
        """Estimated seconds for epochs ``epoch + 1 .. epochs`` and their evaluations."""
        if not self.train_seconds:
            return None
        mean = lambda values: sum(values) / len(values)
        left = mean(self.train_seconds) * max(0, self.epochs - epoch)
        if self.eval_seconds:
            left += mean(self.eval_seconds) * evaluated_epochs(epoch + 1, self.epochs,
                                                               self.eval_interval)
        return left

    def text(self, epoch):
        """`` (~12m left)`` after ``epoch``; empty after the last epoch or with no timing."""
        left = self.seconds(epoch)
        if left is None or epoch >= self.epochs:
            return ""
        return " (~%s%s left)" % (duration_text(left), "" if self.eval_seconds else "+")
