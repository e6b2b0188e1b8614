"""The shared machine's noise gauge: how much of the CPUs other processes used while a
measurement ran, and the median of the measurements taken while they were quiet."""
import os
import resource
import time

import numpy as np

QUIET_SHARE = 0.1  # a measurement is "quiet" when other processes used < 10 % of the CPUs


class CpuShare(object):
    """How much of the machine's CPU went to this process, and to everything else, over an
    interval (from /proc/stat and this process's rusage): the shared-machine noise gauge."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            with open("/proc/stat") as handle:
                fields = [float(x) for x in handle.readline().split()[1:]]
            ticks = os.sysconf("SC_CLK_TCK")
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / ticks  # minus idle, iowait
        except (IOError, ValueError, IndexError):
            busy = None
        return time.time(), usage.ru_utime + usage.ru_stime, busy

    def stop(self):
        (wall0, own0, busy0), (wall1, own1, busy1) = self.start, self._sample()
        capacity = (wall1 - wall0) * (os.cpu_count() or 1)
        share = {"own_cpu_share": (own1 - own0) / capacity if capacity else None}
        if busy0 is not None and busy1 is not None and capacity:
            share["other_cpu_share"] = max(0.0, (busy1 - busy0) - (own1 - own0)) / capacity
        return share


def quiet(seconds, other_shares, threshold=QUIET_SHARE, minimum=3):
    """Median of the measurements taken while other processes used < ``threshold`` of the
    machine, when there are at least ``minimum`` of them (else None)."""
    kept = [t for t, other in zip(seconds, other_shares) if other is not None and
            other < threshold]
    return float(np.median(kept)) if len(kept) >= minimum else None
