"""Reading a UTF-8 text file line by line with errors that name the file and the line."""
from utility.common.errors import InputError, located


def utf8_lines(path):
    """``(line number, text without the line break)`` of each line of ``path``; a file that
    cannot be opened, or a line that is not UTF-8, is one InputError naming it."""
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise InputError("%s: cannot open (%s)" % (path, error.strerror or error))
    with handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                yield line_no, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise located(path, line_no, "not UTF-8 (%s)" % error.reason)
