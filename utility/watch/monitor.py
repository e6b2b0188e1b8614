"""What a run shows while and after it trains: TensorBoard events, time left, curves.png.

main.py drives one ``RunMonitor``:

    monitor = RunMonitor(args, args.out_dir)
    monitor.started(graph, history)         # after the graph is built (history: resumed)
    print(epoch_line(...) + monitor.epoch_done(record))   # after each epoch
    monitor.finished(results)               # after results.json is written
"""
import os

from utility.watch.plot import write_curves
from utility.common.progress import TimeLeft
from utility.watch.tensorboard import RunEvents


class RunMonitor(object):
    """Ties the event writer, the time-left estimate and the curves of one run together."""

    def __init__(self, args, out_dir):
        self.out_dir = out_dir
        self.time_left = TimeLeft(args.epochs, args.eval_interval)
        self.events = None

    def started(self, graph, history=()):
        """Open the event files and write ``graph`` once. ``history`` holds the records of
        the epochs a resumed run already has (empty for a fresh run, whose leftover event
        files are then removed); they seed the time-left estimate, and those the event
        files lack (say, of a run written before them) are added."""
        self.events = RunEvents(self.out_dir, resumed=bool(history))
        self.events.open(graph)
        for record in history:
            self.events.add_record(record)
            self.time_left.add(record)

    def epoch_done(self, record):
        """Log an epoch's record; returns the `` (~12m left)`` text for its line."""
        self.events.add_record(record)
        self.time_left.add(record)
        return self.time_left.text(record["epoch"])

    def finished(self, results):
        """Write ``curves.png`` and close the event file. A run of 0 epochs logs its one
        evaluation (``results["final"]``) at step 0."""
        if not results["history"] and results.get("final"):
            self.events.add_record(results["final"], step=0)
        self.events.close()
        write_curves(results, self.curves_path)

    @property
    def curves_path(self):
        return os.path.join(self.out_dir, "curves.png")
