"""The local backend: runs as subprocesses of this machine, ``workers`` at a time."""
import collections
import os
import subprocess
import time

TERMINATE_GRACE_SECONDS = 10
WAIT_RECHECK_SECONDS = 30  # how often a run waiting for a twin in training looks again


def last_line(path):
    """The last non-empty line of a log (what went wrong, usually)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [l.strip() for l in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [l for l in lines if l]
    return lines[-1] if lines else ""


def start(run, trainer):
    """Start ``run``, its output appended to ``<run dir>/log.txt``."""
    os.makedirs(run.directory, exist_ok=True)
    command = trainer.command + run.argv
    log = open(os.path.join(run.directory, "log.txt"), "a")
    log.write("== %s experiments runner: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                  " ".join(command)))
    log.flush()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    log.close()  # the child holds its own descriptor
    return process


def stop_all(running):
    """Terminate the runs still going (they resume from their last checkpoint next time)."""
    for process in running:
        process.terminate()
    deadline = time.time() + TERMINATE_GRACE_SECONDS
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_local(runs, workers, trainer, progress, poll_seconds=0.2, reuse=None, busy=None):
    """Train the unfinished ``runs``; returns [(run, failure text)].

    ``reuse(run)``: called as a run's turn comes; it copies a twin that finished since the
    plan was made (another runner trained the same settings meanwhile) and returns the line
    saying so, or returns None and the run is trained. ``busy(run)``: where another process
    is training that twin right now, or None; such a run waits (the others go first) and
    is looked at again every WAIT_RECHECK_SECONDS until the twin ends, to be copied then (or
    trained, if the twin did not finish).

    A run that ends with exit status 2 (a user-fixable error, e.g. bad data) stops the
    start of further runs: they would fail the same way. On an interrupt (Ctrl-C, SIGTERM
    turned into KeyboardInterrupt by the caller) the runs going are terminated and the
    interrupt goes on.
    """
    pending = collections.deque(r for r in runs if r.state != "finished")
    running, failures = collections.OrderedDict(), []
    waiting, told, look_again = [], set(), 0.0
    try:
        while pending or running or waiting:
            if waiting and not pending and time.time() >= look_again:
                pending.extend(waiting)
                del waiting[:]
                look_again = time.time() + WAIT_RECHECK_SECONDS
            while pending and len(running) < workers:
                run = pending.popleft()
                line = reuse(run) if reuse else None
                if line:
                    progress.reused(run, line)
                    continue
                twin = busy(run) if busy else None
                if twin:
                    if run.directory not in told:
                        told.add(run.directory)
                        progress.note("%s seed %d waits: the same settings are training in %s"
                                      % (run.config.name, run.seed, twin))
                    waiting.append(run)
                    continue
                progress.started(run)
                running[start(run, trainer)] = run
            time.sleep(poll_seconds)
            for process in [p for p in running if p.poll() is not None]:
                run = running.pop(process)
                failure = None
                if process.returncode != 0:
                    failure = "exit %d: %s" % (process.returncode,
                                               last_line(os.path.join(run.directory,
                                                                      "log.txt")))
                    failures.append((run, failure))
                progress.finished(run, failure)
                left = list(pending) + waiting
                if process.returncode == 2 and left:
                    progress.note("not starting the %d runs left: fix the error above and "
                                  "run the same command again" % len(left))
                    failures.extend((r, "not started") for r in left)
                    pending.clear()
                    del waiting[:]
    except BaseException:
        stop_all(list(running))
        raise
    return failures
