"""Writing a file all at once or not at all.

Content goes to a temporary name in the target's folder, is flushed to disk, and is then
renamed over the target (a rename within one folder is atomic). A failure at any point,
including a full disk, removes the temporary file and leaves whatever the target held
before untouched; a crash (SIGKILL, power loss) can leave only a temporary file behind,
which ``is_temporary`` recognises so that its owner can sweep it later.
"""
import errno
import hashlib
import json
import os
import uuid

from utility.common.errors import InputError

TEMPORARY_MARK = ".tmp-"
HASH_CHUNK_BYTES = 1 << 20
DISK_FULL_TEXT = "No space left on device"  # strerror(ENOSPC), also in TensorFlow's errors


class DiskFullError(InputError):
    """The disk filled up while writing a file; what was there before is intact."""


def temporary_path(path):
    """A fresh name next to ``path``: same folder (so the final rename is atomic), the
    process id (whose leftovers these are) and a random part (never reused)."""
    return "%s%s%d-%s" % (path, TEMPORARY_MARK, os.getpid(), uuid.uuid4().hex[:8])


def missing_folders(path):
    """The folders ``os.makedirs(path)`` would create, innermost first (to undo it)."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def remove_empty(folders):
    """Remove ``folders`` in order, stopping at the first that is not empty (or gone)."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def is_temporary(name):
    """Whether a file or folder name is one ``temporary_path`` made."""
    return TEMPORARY_MARK in os.path.basename(name)


def is_disk_full(error):
    """Whether ``error`` (an OSError, or TensorFlow's error for one) means ENOSPC."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return DISK_FULL_TEXT.lower() in str(error).lower()


def disk_full(path, intact):
    """The one-line error for a full disk while writing ``path``; ``intact`` says what the
    reader can still rely on, e.g. ``the previous checkpoint X is intact``."""
    return DiskFullError("no space left on device while writing %s; %s" % (path, intact))


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def write_atomically(path, write, binary=False):
    """Call ``write(handle)`` on a new temporary file next to ``path``, then move it there.

    The handle is text (UTF-8, ``\\n`` line ends) unless ``binary``. A full disk raises a
    DiskFullError and any other OSError an InputError, both naming ``path``; whatever
    ``write`` raises passes through. In every case the temporary file is removed first.
    """
    temporary = temporary_path(path)
    existed = os.path.exists(path)
    try:
        # open() rather than mkstemp, so that the file gets the usual umask permissions.
        with open(temporary, "xb" if binary else "x", encoding=None if binary else "utf-8",
                  newline=None if binary else "\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        remove_quietly(temporary)
        if is_disk_full(error):
            raise disk_full(path, "the previous %s is intact" % os.path.basename(path)
                            if existed else "nothing was written")
        if isinstance(error, OSError):
            raise InputError("cannot write %s: %s" % (path, error.strerror or error))
        raise


def write_json_atomically(path, value):
    """``write_atomically`` for a JSON document (numpy scalars are written as floats)."""
    write_atomically(path, lambda handle: json.dump(value, handle, indent=1, default=float))


def sha256_of(path):
    """Hex SHA-256 of a file's bytes, to tell later whether it is still what was written."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
