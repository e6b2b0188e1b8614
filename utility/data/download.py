"""Fetching pinned source files: from their public address, a mirror URL or a local mirror
folder, each checked against its SHA-256 before it is written (atomically) into place.
Shared by the entity-bag datasets (utility/data/prepare.py) and the real-content ones
(utility/data/content/)."""
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request

from utility.common.atomic import write_atomically
from utility.common.errors import InputError

MIRROR_ENV = "MCLN_DATA_MIRROR"
# How a local mirror is laid out, for the hint of a failed download.
MEGCF_LAYOUT = "<dir>/Data/<name>/<file>"
CONTENT_LAYOUT = "<dir>/<owner>/<repo>/<commit>/<path> and <dir>/packages/<wheel>"
DOWNLOAD_TIMEOUT = 60  # seconds without progress before a fetch counts as failed
CHUNK_BYTES = 1 << 20  # read and hashed a piece at a time

_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


def is_url(text):
    """Whether a --mirror value is a base URL (else it is a local folder)."""
    return bool(_URL_PATTERN.match(text))


def _network_failure(url, error, mirror, layout=MEGCF_LAYOUT):
    reason = getattr(error, "reason", None) or error
    if isinstance(error, urllib.error.HTTPError):
        reason = "HTTP %d %s" % (error.code, error.reason)
    if mirror:
        hint = "check the mirror given by --mirror or %s" % MIRROR_ENV
    else:
        hint = ("pass --mirror DIR_OR_URL (a local copy laid out as %s, or another base URL) "
                "or set %s" % (layout, MIRROR_ENV))
    return InputError("network fetch failed for %s (%s); %s" % (url, reason, hint))


def sha256_mismatch(location, file_name, expected, actual):
    """The one-line error for a source file whose SHA-256 is not the pinned one."""
    return InputError("%s: SHA-256 mismatch for %s: expected %s, got %s (corrupt download or a "
                      "different version of the file)" % (location, file_name, expected, actual))


def fetch(source, target, expected_sha256, mirror=None, layout=MEGCF_LAYOUT):
    """Copy ``source``, ``("url", address)`` or ``("file", path)``, to ``target`` if its
    SHA-256 matches.

    Raises InputError on a missing file, a failed download or a checksum mismatch; the
    target is then untouched and no temp file is left. ``layout`` describes a mirror's
    folders in the hint of a failed download.
    """
    kind, location = source
    if kind == "file":
        if mirror is not None and not os.path.isdir(mirror):
            raise InputError("mirror folder %s does not exist" % mirror)
        try:
            stream = open(location, "rb")
        except OSError as error:
            raise InputError("cannot read %s from the mirror: %s"
                             % (location, error.strerror or error))
    else:
        request = urllib.request.Request(location, headers={"User-Agent": "mcln-prepare-data"})
        try:
            stream = urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT)
        except _NETWORK_ERRORS as error:
            raise _network_failure(location, error, mirror, layout)

    def read_chunk():
        try:
            return stream.read(CHUNK_BYTES)
        except _NETWORK_ERRORS as error:
            if kind == "file":
                raise InputError("cannot read %s: %s" % (location, error))
            raise _network_failure(location, error, mirror, layout)

    def copy_and_check(handle):
        digest = hashlib.sha256()
        chunk = read_chunk()
        while chunk:
            digest.update(chunk)
            handle.write(chunk)
            chunk = read_chunk()
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise sha256_mismatch(location, os.path.basename(target), expected_sha256, actual)

    with stream:
        write_atomically(target, copy_and_check, binary=True)
