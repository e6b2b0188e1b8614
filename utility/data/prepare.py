"""Fetch a public MCLN dataset split and build entity-bag item features for it.

Usage::

    python -m utility.prepare_data NAME [--mirror DIR_OR_URL] [--data_path Data/] [--with_titles]
    python -m utility.prepare_data mmrec --source DIR --name NAME [--data_path Data/]
    python -m utility.prepare_data own --interactions FILE --name NAME [--titles FILE] [--images DIR]

NAME is ``amazon`` (or ``beauty``), ``art`` or ``taobao``; ``mmrec`` converts a local folder
in MMRec's layout instead (:mod:`utility.data.mmrec`), ``own`` your own interactions, titles
and pictures (:mod:`utility.data.content.own`), and ``beauty14`` and ``ml100k`` build the
datasets with real titles and posters of :mod:`utility.data.content`. For the first
three, the splits and the per-item entity lists come from the public MEGCF repository at a
pinned commit; every file is checked against its SHA-256 before it is used. ``train.txt``,
``validation.txt`` and ``test.txt`` are kept verbatim (they are already in the format the
model reads), and so are the raw entity lists ``i2e_visual.txt`` / ``i2e_title.txt``. From
the entity lists the feature files are built:

* ``item2imgfeat.txt``: l2-normalised tf-idf of the item x visual-entity counts;
* ``itemtitle2vec.txt``: tf-idf of the item x title-entity counts reduced to 300 dimensions
  by a truncated SVD; not for Taobao, whose release and paper use image features only,
  unless ``--with_titles`` asks for it.

These are "entity-bag features", NOT the authors' VGG / word2vec features; results obtained
with them must be described so.

Every output file is written to a temporary name in the output folder and renamed into place
only when complete (and, for downloads, verified), so an interrupted or failed run never
leaves a half-written file under a real name; a new output folder is itself filled under a
temporary name and renamed when complete, so a failed first preparation leaves none.
"""
import argparse
import contextlib
import os
import shutil
import sys
import time

import numpy as np
import scipy.sparse

from utility.common.atomic import (missing_folders, remove_empty, sha256_of, temporary_path,
                                   write_atomically)
from utility.common.errors import InputError, exit_on_input_error
from utility.data.download import CHUNK_BYTES, CONTENT_LAYOUT, MIRROR_ENV, fetch, is_url
from utility.data.load import id_lines, parse_interactions
from utility.common.progress import progress

BASE_URL = ("https://raw.githubusercontent.com/kangliu1225/MEGCF/"
            "3022b330a2089664bd45b3d498e88129b3415b62")

# CLI name -> folder name in the public repository / in the output data path.
PUBLIC_FOLDERS = {"amazon": "amazon-beauty", "beauty": "amazon-beauty",
                  "art": "Art", "taobao": "taobao"}
OUTPUT_FOLDERS = {"amazon": "amazon-beauty", "beauty": "amazon-beauty",
                  "art": "Art", "taobao": "Taobao"}
CONTENT_DATASETS = ("beauty14", "ml100k")  # built by utility/data/content/

SPLIT_FILES = ("train.txt", "validation.txt", "test.txt")
ENTITY_FILES = ("i2e_visual.txt", "i2e_title.txt")
RAW_FILES = SPLIT_FILES + ENTITY_FILES
IMAGE_FEATURES = "item2imgfeat.txt"
TEXT_FEATURES = "itemtitle2vec.txt"
TEXT_DIM = 300
# Public folders whose release and paper use image features only: no title features unless
# asked for (--with_titles).
IMAGE_ONLY = ("taobao",)
FLOAT_FORMAT = "%.6g"  # fixed so that a second preparation is byte-identical

SHA256 = {
    "amazon-beauty": {
        "train.txt": "797631b6a4bcd9c6674afc309603fc3b24e8089e96f66767be737407f5ec92de",
        "validation.txt": "25d549f1412338d77041e534f1b13dc1deebb995c789d3d18d80852ca57bcf9d",
        "test.txt": "232cc27d05ca299ad45324d213adbbddb19b67609ca1212ee7f054a213712517",
        "i2e_visual.txt": "d306b6e673fedf653c7f05771f407b0503c01e06e7f197d66328e02047d5ca27",
        "i2e_title.txt": "796931323bcc9a1b4a740301f8ca1d73402c3ebd74106660d92e56ea8e5913b0",
    },
    "taobao": {
        "train.txt": "7ab7ce541087a8f9497710e43b8c49a6be861a119bca4dd8c6f0a3cf6952e151",
        "validation.txt": "a7c5f24db74c7c8c5dc9502f1c210cfd584b3865042e3e17e3fabe906d51b65e",
        "test.txt": "3c64c4b2442f5b6e68b319443b1729619dd21bf88d66dc283a5624ccca48d5ae",
        "i2e_visual.txt": "20bfadeaf78206cbde587fae32960a8d732e11eb28e4772d09af1f72b4d554c9",
        "i2e_title.txt": "c3dd4d3fb4ab014f1700dcc09a2dabdc8883b71e7e2882e1b3b2359bffbdecd9",
    },
    "Art": {
        "train.txt": "e5e63b9e231963b6e8ae0af7192f6b1be5c9ecd25b1bbf2b7155e4c3f5fdd60a",
        "validation.txt": "9cded7cd23c92c8b7cccc3f4a0d0d4ed021d932b0aad741289331ad46299f04f",
        "test.txt": "bc8f158b2cea1784b74c06daf608d7749db08f55d90d94bb51abe4a82b38830e",
        "i2e_visual.txt": "713237ebc143e091a0ddd6577f177654e089ebbba4cc710ac8481f7ff980342e",
        "i2e_title.txt": "b15793ef4d026ec1563fc7dede03a96c5a2d9626a318d231a99248a2ac8f3287",
    },
}


# ---------------------------------------------------------------------------------------
# Files: atomic writes, where the raw files are


def atomic_write(path, write):
    """Call ``write(binary_handle)`` on a temp file next to ``path``; rename it into place.

    If ``write`` raises (including an InputError after a failed check), the temp file is
    removed and ``path`` is left as it was (see utility/common/atomic.py).
    """
    write_atomically(path, write, binary=True)


def source_of(public, file_name, mirror=None):
    """Where to read one raw file: ``("url", address)`` or ``("file", path)``."""
    if mirror is None:
        return "url", "%s/Data/%s/%s" % (BASE_URL, public, file_name)
    if is_url(mirror):
        return "url", "%s/Data/%s/%s" % (mirror.rstrip("/"), public, file_name)
    return "file", os.path.join(mirror, "Data", public, file_name)


# ---------------------------------------------------------------------------------------
# Parsing the splits and the entity lists


def read_entity_lists(path, n_items):
    """Read ``iid e e ...`` lines into ``{iid: [entity ids]}`` for iids below ``n_items``.

    A line holding only the item id gives an empty list; repeated entities are kept (they
    count twice). Returns ``(lists, number of lines ignored because iid >= n_items)``.
    """
    lists, ignored = {}, 0
    for _, ids in id_lines(path):
        if ids[0] >= n_items:
            ignored += 1
            continue
        lists.setdefault(ids[0], []).extend(ids[1:])
    return lists, ignored


# ---------------------------------------------------------------------------------------
# Entity-bag features


def count_matrix(entity_lists, n_items):
    """Sparse ``n_items x n_entities`` count matrix of ``{iid: [entity ids]}``.

    One column per distinct entity, in ascending entity-id order; items without a list get
    an all-zero row. Returns ``(csr float64 matrix, entity ids of the columns)``.
    """
    rows, cols = [], []
    for item in sorted(entity_lists):
        entities = entity_lists[item]
        rows.extend([item] * len(entities))
        cols.extend(entities)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    entity_ids = np.unique(cols)
    columns = np.searchsorted(entity_ids, cols)
    data = np.ones(len(rows), dtype=np.float64)
    # The COO -> CSR conversion sums repeated (item, entity) pairs into counts.
    counts = scipy.sparse.coo_matrix((data, (rows, columns)),
                                     shape=(n_items, len(entity_ids))).tocsr()
    counts.sum_duplicates()
    counts.sort_indices()
    return counts, entity_ids


def image_features(counts):
    """Entity-bag image features: l2-normalised smooth-idf tf-idf of the counts (sparse)."""
    # Imported here so the CLI answers argument errors without loading scikit-learn.
    from sklearn.feature_extraction.text import TfidfTransformer
    features = TfidfTransformer(norm="l2").fit_transform(counts)
    return scipy.sparse.csr_matrix(features, dtype=np.float64)


def _single_blas_thread():
    """Context manager limiting BLAS to one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn depends on it, but do not fail for its absence
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def text_features(counts, n_components=TEXT_DIM):
    """Entity-bag title features: tf-idf of the counts, truncated SVD to ``n_components``.

    Always ``n_components`` columns: when there are no more entities than that, the tf-idf
    matrix itself is used (nothing to reduce) and zero-padded; a rank cap from very few
    items is zero-padded too.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    tfidf = TfidfTransformer(norm="l2").fit_transform(counts)
    n_items, n_entities = tfidf.shape
    if n_entities <= n_components:
        reduced = tfidf.toarray()
    else:
        rank = min(n_components, n_items)
        if rank < 1:
            reduced = np.zeros((n_items, 0))
        else:
            # One BLAS thread: the result then does not depend on the machine's core count
            # (summation order), and on small VMs threaded OpenBLAS was several times slower.
            with _single_blas_thread():
                svd = TruncatedSVD(n_components=rank, random_state=0)
                reduced = svd.fit_transform(tfidf)
    out = np.zeros((n_items, n_components), dtype=np.float64)
    out[:, :reduced.shape[1]] = reduced
    return out


def format_rows(matrix):
    """Yield ``"iid f1 ... fD\\n"`` lines for a dense array or a scipy sparse matrix."""
    n_rows, n_cols = matrix.shape
    if scipy.sparse.issparse(matrix):
        matrix = scipy.sparse.csr_matrix(matrix)
        indptr, indices, data = matrix.indptr, matrix.indices, matrix.data.tolist()
        zero = FLOAT_FORMAT % 0.0
        for row in range(n_rows):
            # Format only the stored entries; the rest are zeros that share one string.
            parts = [zero] * n_cols
            for position in range(indptr[row], indptr[row + 1]):
                parts[indices[position]] = FLOAT_FORMAT % (data[position] + 0.0)
            yield "%d %s\n" % (row, " ".join(parts))
    else:
        # "+ 0.0" turns -0.0 into 0.0 so signs of zero never differ between runs.
        values = (np.asarray(matrix, dtype=np.float64) + 0.0).tolist()
        row_format = " ".join([FLOAT_FORMAT] * n_cols)
        for row in range(n_rows):
            yield "%d %s\n" % (row, row_format % tuple(values[row]))


def write_features(path, matrix):
    """Atomically write one ``iid f1 ... fD`` line per row of ``matrix``."""
    def write(handle):
        batch = []
        rows = progress(format_rows(matrix), matrix.shape[0],
                        "writing %s" % os.path.basename(path))
        for line in rows:
            batch.append(line)
            if len(batch) >= 1024:
                handle.write("".join(batch).encode("ascii"))
                batch = []
        handle.write("".join(batch).encode("ascii"))
    atomic_write(path, write)


def feature_file_dim(path, n_items):
    """Dimension of an existing feature file with exactly ``n_items`` lines, else None."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        first = handle.readline()
        n_lines = 1 if first.endswith(b"\n") else 0
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            n_lines += chunk.count(b"\n")
    tokens = first.split()
    if n_lines != n_items or not tokens or tokens[0] != b"0":
        return None
    return len(tokens) - 1


# ---------------------------------------------------------------------------------------
# The whole preparation


def _resolve(name):
    key = str(name).lower()
    if key not in PUBLIC_FOLDERS:
        raise InputError("unknown dataset %r; choose one of: %s"
                         % (name, ", ".join(sorted(PUBLIC_FOLDERS) + list(CONTENT_DATASETS))))
    return PUBLIC_FOLDERS[key], OUTPUT_FOLDERS[key]


def _build(kind, path, entity_path, n_items, build, log):
    started = time.time()
    lists, ignored = read_entity_lists(entity_path, n_items)
    if ignored:
        log("  %s: ignored %d lines whose item id is >= %d items"
            % (os.path.basename(entity_path), ignored, n_items))
    counts, entity_ids = count_matrix(lists, n_items)
    if counts.shape[1] == 0:
        raise InputError("%s: no entity ids, cannot build %s features" % (entity_path, kind))
    features = build(counts)
    write_features(path, features)
    log("built %s entity-bag features %s: %d x %d (%d distinct entities, %d items without "
        "entities) in %.1f s"
        % (kind, os.path.basename(path), features.shape[0], features.shape[1],
           len(entity_ids), n_items - int((counts.getnnz(axis=1) > 0).sum()),
           time.time() - started))
    return features.shape[1]


def prepare(name, data_path="Data", mirror=None, log=print, with_titles=None):
    """Fetch, verify and featurise dataset ``name``; return its output folder.

    ``mirror`` is a local directory laid out like the public repository
    (``<mirror>/Data/<public name>/<file>``) or another base URL; when None the
    ``MCLN_DATA_MIRROR`` environment variable is used, then the public address. Verified
    files already in the output folder are reused and features are only built when
    missing (or when a source file was fetched again), so repeating a call is cheap.

    A new output folder is filled under a temporary name and renamed into place when
    complete: a failed preparation leaves no folder a run would take for a dataset.

    Title features are built for Amazon and Art; on Taobao, whose release and paper use
    no text, only when ``with_titles`` (its entity lists are kept either way).
    """
    started = time.time()
    public, folder = _resolve(name)
    if with_titles is None:
        with_titles = public not in IMAGE_ONLY
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is not None and not is_url(mirror) and not os.path.isdir(mirror):
        # Checked before anything is created, so a typo leaves no empty output folder.
        raise InputError("mirror folder %s does not exist" % mirror)
    out = os.path.join(data_path, folder)
    fresh = not os.path.isdir(out)
    work = temporary_path(out) if fresh else out
    created = missing_folders(work)
    try:
        os.makedirs(work, exist_ok=True)
    except OSError as error:
        raise InputError("cannot create output folder %s: %s" % (out, error.strerror or error))
    try:
        counts, dims = _fill(work, public, mirror, with_titles, log)
        if fresh:
            os.rename(work, out)
    except BaseException:
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
            remove_empty(created[1:])  # the parents made for it, e.g. Data/
        raise
    text = ("text dim %d" % dims["title"] if "title" in dims else
            "no text features (the release uses none on %s; --with_titles builds them)"
            % folder)
    log("%s: %d users, %d items, %d train entries, image dim %d, %s "
        "(entity-bag features) in %s [%.1f s]"
        % (folder, int(counts["n_users"]), int(counts["n_items"]),
           len(counts["train_items"]), dims["image"], text, out, time.time() - started))
    return out


def _fill(out, public, mirror, with_titles, log):
    """Fetch the raw files into ``out`` and build the features; returns (the splits'
    counts, {kind: feature width})."""
    fetched = False
    for file_name in progress(RAW_FILES, len(RAW_FILES), "fetching %s" % public):
        target = os.path.join(out, file_name)
        expected = SHA256[public][file_name]
        if os.path.isfile(target):
            try:
                existing = sha256_of(target)
            except OSError:
                existing = None  # unreadable: fetch it again (atomic_write reports errors)
            if existing == expected:
                log("reusing verified %s" % target)
                continue
            log("%s does not match its SHA-256; fetching it again" % target)
        source = source_of(public, file_name, mirror)
        file_started = time.time()
        log("fetching %s" % source[1])
        fetch(source, target, expected, mirror)
        log("  verified SHA-256 of %s (%.1f s)" % (file_name, time.time() - file_started))
        fetched = True

    counts = parse_interactions(*[os.path.join(out, split) for split in
                                  ("train.txt", "test.txt", "validation.txt")])
    n_items = int(counts["n_items"])
    if n_items < 1:
        raise InputError("%s: no item ids in the splits" % out)

    dims = {}
    builds = [("image", IMAGE_FEATURES, "i2e_visual.txt", image_features)]
    if with_titles:
        builds.append(("title", TEXT_FEATURES, "i2e_title.txt", text_features))
    for kind, file_name, entity_file, build in builds:
        path = os.path.join(out, file_name)
        dim = None if fetched else feature_file_dim(path, n_items)
        if dim is None:
            dim = _build(kind, path, os.path.join(out, entity_file), n_items, build, log)
        else:
            log("reusing %s (%d x %d)" % (path, n_items, dim))
        dims[kind] = dim
    return counts, dims


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as an InputError (one ``error:`` line)."""

    def error(self, message):
        raise InputError(message)


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mmrec"]:
        from utility.data import mmrec  # converts a local folder: none of the fetching below
        return mmrec.main(argv[1:])
    if argv[:1] == ["own"]:
        from utility.data.content import own  # your own files: nothing to fetch either
        return own.main(argv[1:])
    parser = _Parser(
        prog="python -m utility.prepare_data",
        description="Fetch a public MCLN dataset split, verify it and build entity-bag "
                    "item features (not the authors' VGG/word2vec features).")
    parser.add_argument("name", metavar="NAME",
                        help="dataset: amazon (= beauty), art or taobao (entity-bag "
                             "features), beauty14 or ml100k (real titles and posters, "
                             "docs/datasets-real-content.md); 'mmrec "
                             "--source DIR --name NAME' to convert a folder in MMRec's "
                             "layout (see utility/data/mmrec.py); or 'own --interactions "
                             "FILE --name NAME --titles FILE --images DIR' for your own "
                             "interactions, titles and pictures (utility/data/content/own.py)")
    parser.add_argument("--mirror", default=None, metavar="DIR_OR_URL",
                        help="local copy laid out as DIR/Data/<name>/<file> (beauty14, "
                             "ml100k: as %s), or a base URL (default: $%s, else the "
                             "public addresses)" % (CONTENT_LAYOUT, MIRROR_ENV))
    parser.add_argument("--data_path", default="Data/",
                        help="parent of the output folder (default: Data/)")
    parser.add_argument("--with_titles", action="store_true", default=None,
                        help="taobao: also build itemtitle2vec.txt from the title entities "
                             "(the release and the paper use no text on Taobao; amazon and "
                             "art always get it)")
    args = parser.parse_args(argv)
    if args.name.lower() in CONTENT_DATASETS:
        from utility.data import content  # imports this module: loaded only when needed
        content.prepare_content(args.name, data_path=args.data_path, mirror=args.mirror)
    else:
        prepare(args.name, data_path=args.data_path, mirror=args.mirror,
                with_titles=args.with_titles)
    return 0


if __name__ == "__main__":
    sys.exit(exit_on_input_error(main))
