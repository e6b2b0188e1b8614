"""A quiet TensorFlow start on CPU-only machines (``--tf_log`` shows everything again).

What TensorFlow prints there, and what hides it (measured on 2.21 and 1.15.5):

- TF 2.x, first session: ``E ... cuda_platform.cc] failed call to cuInit: ...`` is logged
  at ERROR severity, so only ``TF_CPP_MIN_LOG_LEVEL=3`` hides it; the MLIR line
  (``I ... MLIR V1 optimization pass is not enabled``) is INFO and goes at 1 already.
  Level 3 also hides TensorFlow's C++ warnings and errors, but a failing op still raises
  its Python exception with the message, and our own output (prints, ``error:`` lines,
  Python warnings) never passes through that logger.
- TF 2.x, import: a few INFO lines (oneDNN, "Could not find cuda drivers") and absl's
  "All log messages before absl::InitializeLog() ..." come out before TensorFlow reads
  TF_CPP_MIN_LOG_LEVEL, so no level hides them. ``quiet_tensorflow`` therefore imports
  TensorFlow itself with stderr held back, and passes on every held-back line except
  those INFO lines and the absl notice.
- TF 1.15: INFO lines (CPU features, XLA service) and deprecation chatter through the
  Python logger ``tensorflow`` ("WARNING:tensorflow:From ...: ... is deprecated ..."); a
  filter on that logger drops the deprecation notices and nothing else.
"""
import contextlib
import logging
import os
import re
import sys
import tempfile

# The only level that hides TF 2.x's CUDA initialisation ERROR line (see above).
QUIET_LOG_LEVEL = "3"
# INFO lines in absl's format (``I0000 00:00:1795793766.32  9688 port.cc:153] ...``) and
# in TF 1.x's (``2026-01-01 10:00:00.123: I tensorflow/...``), and absl's start notice.
STARTUP_NOISE = re.compile(r"I\d{4} [\d:.]+ +\d+ \S+:\d+\] "
                           r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I "
                           r"|WARNING: All log messages before absl::InitializeLog\(\)")


class DeprecationNotices(logging.Filter):
    """Drops TensorFlow's "... is deprecated ..." records, lets every other record pass."""

    def filter(self, record):
        return "is deprecated" not in record.getMessage()


def keep_line(line):
    """False for the start-up INFO lines TensorFlow prints before honouring its log level."""
    return not STARTUP_NOISE.match(line)


@contextlib.contextmanager
def stderr_held_back(keep):
    """Send file descriptor 2 to a temporary file for the block, then write the lines for
    which ``keep(line)`` is true to stderr (also when the block raises)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(True)
            sys.stderr.write("".join(line for line in lines if keep(line)))
            sys.stderr.flush()


def quiet_tensorflow(show_log):
    """Hide TensorFlow's start-up noise unless ``show_log`` (--tf_log); then import it.

    Call it before anything imports TensorFlow: the log level is read once, at import. A
    TF_CPP_MIN_LOG_LEVEL already in the environment is the user's choice and stays. Called
    after the import, only the deprecation filter still has an effect.
    """
    if show_log:
        return
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, DeprecationNotices) for f in logger.filters):
        logger.addFilter(DeprecationNotices())
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL)
    with stderr_held_back(keep_line):
        import tensorflow  # noqa: F401  (the import is the point: its start-up lines)
