"""What a measurement ran on: the machine, this process's peak memory, the checkout."""
import os
import platform
import resource
import subprocess

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
        info["load_average"] = list(os.getloadavg())
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle
                     if line.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
        with open("/proc/meminfo") as handle:
            total_kb = int(handle.readline().split()[1])
        info["memory_gb"] = round(total_kb / 1024.0 ** 2, 1)
    except (IOError, IndexError, ValueError):
        info["cpu"] = platform.processor()
    return info


def code_version():
    """The checkout being measured: HEAD and whether model/ or utility/ differ from it."""
    def git(*command):
        try:
            return subprocess.run(["git", "-C", REPO] + list(command), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, universal_newlines=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"git_head": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_changes": git("status", "--porcelain", "--", "model", "utility")
            .splitlines()}
