"""One exception type for problems the user can fix: bad files, bad flags, missing data.

Entry points catch it and print a single line (``error: <message>``) with exit status 2,
so a typo in a data file never ends in a traceback; Ctrl-C ends in one line too, with the
shell's status for SIGINT (130).
"""
import sys


INTERRUPTED_STATUS = 128 + 2  # what a shell reports for a process ended by SIGINT


class InputError(Exception):
    """A user-fixable problem; the message names the file (and line) at fault."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a message saying how to continue (e.g. the ``--resume`` command)."""


def located(path, line_no, message):
    """Build an InputError whose text starts with ``path:line``."""
    return InputError("%s:%d: %s" % (path, line_no, message))


def exit_on_input_error(main_function):
    """Run ``main_function()``; turn an InputError into one line on stderr and exit 2, and
    Ctrl-C into one line (the Interrupted message, if any) and exit 130."""
    try:
        return main_function()
    except InputError as error:
        sys.stderr.write("error: %s\n" % error)
        sys.exit(2)
    except KeyboardInterrupt as error:
        sys.stderr.write("interrupted%s\n" % ("; %s" % error if str(error) else ""))
        sys.exit(INTERRUPTED_STATUS)
