"""One exception type for problems the user can fix: bad files, bad flags, missing data.

Entry points catch it and print a single line (``error: <message>``) with exit status 2,
so a typo in a data file never ends in a traceback.
"""
import sys


class InputError(Exception):
    """A user-fixable problem; the message names the file (and line) at fault."""


def located(path, line_no, message):
    """Build an InputError whose text starts with ``path:line``."""
    return InputError("%s:%d: %s" % (path, line_no, message))


def exit_on_input_error(main_function):
    """Run ``main_function()``; turn an InputError into one line on stderr and exit 2."""
    try:
        return main_function()
    except InputError as error:
        sys.stderr.write("error: %s\n" % error)
        sys.exit(2)
