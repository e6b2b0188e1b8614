"""One exception type for problems the user can fix: bad files, bad flags, missing data.

Entry points catch it and print a single line (``error: <message>``) with exit status 2,
so a typo in a data file never ends in a traceback; Ctrl-C ends in one line too, with the
shell's status for SIGINT (130), and so does SIGTERM, what a cluster scheduler sends before
it kills a job (143).
"""
import signal
import sys


INTERRUPTED_STATUS = 128 + 2  # what a shell reports for a process ended by SIGINT
TERMINATED_STATUS = 128 + 15  # ... and by SIGTERM


class InputError(Exception):
    """A user-fixable problem; the message names the file (and line) at fault."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a message saying how to continue (e.g. the ``--resume`` command)."""
    status, word = INTERRUPTED_STATUS, "interrupted"


class Terminated(Interrupted):
    """SIGTERM, handled as Ctrl-C: the same message, the shell's status for SIGTERM."""
    status, word = TERMINATED_STATUS, "terminated"


def stop_on_sigterm():
    """Make SIGTERM raise Terminated. Python runs the handler between two bytecodes, so a
    run inside ``session.run`` stops when that step returns: at a step boundary."""
    def handler(signum, frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, handler)


def located(path, line_no, message):
    """Build an InputError whose text starts with ``path:line``."""
    return InputError("%s:%d: %s" % (path, line_no, message))


def exit_on_input_error(main_function):
    """Run ``main_function()``; turn an InputError into one line on stderr and exit 2, and
    Ctrl-C into one line (the Interrupted message, if any) and exit 130 (SIGTERM: 143)."""
    try:
        return main_function()
    except InputError as error:
        sys.stderr.write("error: %s\n" % error)
        sys.exit(2)
    except KeyboardInterrupt as error:
        word = getattr(error, "word", Interrupted.word)
        sys.stderr.write("%s%s\n" % (word, "; %s" % error if str(error) else ""))
        sys.exit(getattr(error, "status", INTERRUPTED_STATUS))
