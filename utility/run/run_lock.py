"""One run at a time per output folder.

A run holds an exclusive ``flock`` on ``<out_dir>/.run.lock`` for its whole life and writes
who it is into the file (pid, host, start time, command line). A second run into the same
folder is refused with that description. The kernel drops the lock when the holder's
process ends however it ends (exit, exception, SIGKILL), so a lock file left by a dead run
never blocks anyone; the file itself stays, emptied on a clean release. A folder the lock
created and the run left empty (it failed before writing anything, e.g. on bad data) is
removed on release, with the parents created for it. ``holder(out_dir)`` tells another
process which run, if any, holds a folder (the experiments runner waits for a twin so).
"""
import datetime
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time

from utility.common.atomic import missing_folders, remove_empty
from utility.common.errors import InputError

LOCK_FILE = ".run.lock"
HELD = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)  # flock's "someone has it"
LOCK_ATTEMPTS, LOCK_RETRY_SECONDS = 5, 0.1


def command_line(argv=None):
    """The shell command that started this process (``argv``: sys.argv), quoted."""
    return " ".join(shlex.quote(part) for part in [sys.executable] + list(argv or sys.argv))


def holder_description():
    """This process as the lock file records it."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
            "command": command_line()}


def read_record(descriptor):
    """The record a lock file open on ``descriptor`` holds; {} when there is none yet (the
    lock was just taken) or it is not a JSON object."""
    text = os.read(descriptor, 1 << 16).decode("utf-8", "replace")
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def describe(record):
    """One line about the run that holds a lock, from its lock file's record."""
    try:
        return "pid %s on host %s, started %s: %s" % (
            record["pid"], record["host"], record["started"], record["command"])
    except KeyError:  # just taken, its details not written yet
        return "details not recorded yet"


def holder(out_dir):
    """The lock file's record (pid, host, started, command) of the run holding ``out_dir``,
    {} when it is held but not yet described, None when no run holds it. Probing takes a
    shared lock for an instant, which acquire() waits out."""
    try:
        descriptor = os.open(os.path.join(out_dir, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        record = read_record(descriptor) if error.errno in HELD else None
        os.close(descriptor)
        return record
    os.close(descriptor)  # not held: closing drops the shared lock just taken
    return None


class RunLock(object):
    """``with RunLock(out_dir):`` holds ``out_dir`` for one run (creating the folder)."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.path = os.path.join(out_dir, LOCK_FILE)
        self._descriptor = None
        self._created = []  # folders acquire() made, innermost first

    def acquire(self):
        """Take the lock, or raise an InputError naming the run that holds it."""
        try:
            self._created = missing_folders(self.out_dir)
            os.makedirs(self.out_dir, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise InputError("cannot create %s: %s" % (self.path, error.strerror or error))
        for attempt in range(LOCK_ATTEMPTS):
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in HELD or attempt == LOCK_ATTEMPTS - 1:
                    record = read_record(descriptor)
                    os.close(descriptor)
                    if error.errno not in HELD:
                        raise InputError("cannot lock %s: %s"
                                         % (self.path, error.strerror or error))
                    raise InputError("--out_dir %s is in use by another run (%s); wait for "
                                     "it to end or choose another --out_dir"
                                     % (self.out_dir, describe(record)))
                time.sleep(LOCK_RETRY_SECONDS)  # a probe (holder()) holds it for a moment
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(holder_description()).encode("utf-8"))
        self._descriptor = descriptor
        return self

    def release(self):
        """Empty the lock file and let go (closing the descriptor drops the flock)."""
        if self._descriptor is not None:
            os.ftruncate(self._descriptor, 0)
            if self._created and os.listdir(self.out_dir) == [LOCK_FILE]:
                os.remove(self.path)  # still holding the lock: no other run has it
                remove_empty(self._created)
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exception):
        self.release()
