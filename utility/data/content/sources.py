"""Pinned source files of public GitHub repositories: a mirror folder's copy verified and
read in place, a download verified into a cache (``$MCLN_CACHE/sources``, else
``~/.cache/mcln/sources``) so that a second build downloads nothing."""
import collections
import os

from utility.common.atomic import sha256_of
from utility.common.errors import InputError
from utility.data.download import CONTENT_LAYOUT, fetch, is_url, sha256_mismatch
from utility.data.features import packages

RAW_FILES_URL = "https://raw.githubusercontent.com"

GithubFile = collections.namedtuple("GithubFile", "repo commit path sha256")


def sources_cache():
    """Where verified source files are kept: beside the package cache of ``packages``."""
    return os.path.join(os.path.dirname(packages.cache_dir()), "sources")


def source_location(github_file, mirror=None):
    """Where to read one file: ``("url", address)`` or ``("file", path)`` (as prepare.py)."""
    relative = "/".join((github_file.repo, github_file.commit, github_file.path))
    if mirror is None:
        return "url", "%s/%s" % (RAW_FILES_URL, relative)
    if is_url(mirror):
        return "url", "%s/%s" % (mirror.rstrip("/"), relative)
    return "file", os.path.join(mirror, *relative.split("/"))


def fetched(github_file, mirror=None, log=print):
    """Local path of ``github_file``, verified against its SHA-256: a mirror folder's copy is
    used in place; otherwise it comes from the cache or is downloaded into it. A missing or
    different file is one InputError naming it."""
    kind, location = source_location(github_file, mirror)
    if kind == "file":
        try:
            actual = sha256_of(location)
        except OSError as error:
            raise InputError("cannot read %s from the mirror: %s"
                             % (location, error.strerror or error))
        if actual != github_file.sha256:
            raise sha256_mismatch(location, os.path.basename(location), github_file.sha256,
                                  actual)
        return location
    target = os.path.join(sources_cache(), github_file.repo, github_file.commit,
                          *github_file.path.split("/"))
    if os.path.isfile(target) and sha256_of(target) == github_file.sha256:
        return target
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except OSError as error:
        raise InputError("cannot create the download cache %s: %s"
                         % (os.path.dirname(target), error.strerror or error))
    log("fetching %s" % location)
    fetch((kind, location), target, github_file.sha256, mirror, layout=CONTENT_LAYOUT)
    return target
