"""Reading a dataset in the release's on-disk format (reference section 1), with a binary cache.

Text parsing happens once: the parsed arrays go to ``<data_dir>/.cache/*.npz``, keyed by the
size and modification time of every source file, so touching a file rebuilds its cache. A
cache that fails to read or to match its stored checksum is rebuilt, never trusted. Feature
files may also be ``.npy`` matrices, read memory-mapped without a cache.

Every problem found in a file is an ``InputError`` naming the file and the line (or the row
of a ``.npy``); docs/data-format.md lists each check.
"""
import hashlib
import os
import re
import time
import warnings

import numpy as np

from utility.common.errors import InputError, located

SPLIT_FILES = ("train.txt", "test.txt", "validation.txt")
FEATURE_STEMS = {"image": "item2imgfeat", "text": "itemtitle2vec"}
CACHE_VERSION = "3"  # 3: skipped-line warnings name the bad token and its column
CHECKSUM_KEY = "_checksum"  # stored in every cache beside the arrays it covers
FEED_ALIGNMENT = 64  # bytes: enough for every SIMD width TensorFlow is built for
MAX_ID = 2 ** 31 - 1  # ids index TensorFlow tables: anything larger is a typo, not a catalogue
NPY_BLOCK_BYTES = 64 << 20  # a .npy is checked (and converted) this many bytes at a time


def aligned_empty(shape, dtype, alignment=FEED_ALIGNMENT):
    """An uninitialised C-ordered array whose data start at a multiple of ``alignment``."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


def aligned(matrix, alignment=FEED_ALIGNMENT):
    """``matrix``, or a copy of it whose data start at a multiple of ``alignment`` bytes.

    TensorFlow (1.15 and 2.x alike) feeds an aligned array without copying it and copies an
    unaligned one first; large numpy arrays start 16 bytes past a page boundary. At 100k x
    4096 features that copy was 1.6 GB more peak memory while feeding. (An empty matrix has
    no data to align; a memory-mapped .npy is aligned already, numpy pads its header.)
    """
    if matrix.nbytes == 0 or matrix.ctypes.data % alignment == 0:
        return matrix
    copy = aligned_empty(matrix.shape, matrix.dtype, alignment)
    copy[...] = matrix
    return copy


class Dataset(object):
    """Interactions as CSR arrays over users, plus per-modality item feature matrices.

    ``train_items[train_indptr[u]:train_indptr[u+1]]`` is user u's train list in file order,
    repeats kept (they weigh the positive sampling, as in the release).
    """

    def __init__(self, train_path, n_users, n_items, train_indptr, train_items, test_pairs,
                 valid_pairs, features):
        self.train_path = train_path
        self.n_users = n_users
        self.n_items = n_items
        self.train_indptr = train_indptr
        self.train_items = train_items
        self.test_pairs = test_pairs
        self.valid_pairs = valid_pairs
        self.features = {modality: aligned(matrix) for modality, matrix in features.items()}
        self.validation_held_out = False  # see without_validation()

    @property
    def n_train(self):
        return len(self.train_items)

    @property
    def train_users(self):
        """Users with at least one train entry, ascending."""
        return np.flatnonzero(np.diff(self.train_indptr) > 0)

    def train_user_of_entry(self):
        return np.repeat(np.arange(self.n_users), np.diff(self.train_indptr))

    def interaction_keys(self):
        """Sorted unique ``u * n_items + i`` of the train entries, for fast membership tests."""
        return np.unique(self.train_user_of_entry().astype(np.int64) * self.n_items
                         + self.train_items)

    def statistics(self):
        distinct = len(self.interaction_keys())
        lines = ["users %d, items %d, train entries %d (%d distinct), test users %d, "
                 "density %.5f" % (self.n_users, self.n_items, self.n_train, distinct,
                                   len(np.unique(self.test_pairs[:, 0])),
                                   distinct / float(max(1, self.n_users * self.n_items)))]
        for name, matrix in self.features.items():
            lines.append("%s features: %d-d" % (name, matrix.shape[1]))
        return "; ".join(lines)


def pair_keys(pairs, n_items):
    """``u * n_items + i`` of (user, item) pairs, sorted, repeats kept."""
    return np.sort(pairs[:, 0].astype(np.int64) * n_items + pairs[:, 1])


def without_validation(dataset):
    """A copy of ``dataset`` whose train lists miss one occurrence per validation pair.

    For ``--valid``: the public splits also list the validation item in train.txt, so it is
    removed here (its first occurrence in file order; a second occurrence, where a user
    listed the item twice, stays) and with it the edge of the graph and the sampler's
    positive. A validation pair absent from train.txt removes nothing.
    """
    if not len(dataset.valid_pairs):
        raise InputError("--valid needs a validation.txt ('uid iid' lines) beside %s"
                         % dataset.train_path)
    n_items = dataset.n_items
    entry_keys = dataset.train_user_of_entry().astype(np.int64) * n_items + dataset.train_items
    order = np.argsort(entry_keys, kind="stable")  # equal keys stay in file order
    sorted_keys = entry_keys[order]
    wanted = pair_keys(dataset.valid_pairs, n_items)
    # The j-th repeat of a validation pair takes the j-th occurrence in train.
    repeat = np.arange(len(wanted)) - np.searchsorted(wanted, wanted)
    position = np.searchsorted(sorted_keys, wanted) + repeat
    found = position < len(sorted_keys)
    found[found] = sorted_keys[position[found]] == wanted[found]
    removed = order[position[found]]
    keep = np.ones(len(entry_keys), dtype=bool)
    keep[removed] = False
    lengths = np.bincount(dataset.train_user_of_entry()[keep], minlength=dataset.n_users)
    reduced = Dataset(dataset.train_path, dataset.n_users, n_items,
                      np.concatenate([[0], np.cumsum(lengths)]), dataset.train_items[keep],
                      dataset.test_pairs, dataset.valid_pairs, dataset.features)
    reduced.validation_held_out = True
    return reduced


def feature_source(data_dir, modality):
    """The file holding ``modality``'s features: ``<stem>.npy`` if present, else ``<stem>.txt``."""
    stem = os.path.join(data_dir, FEATURE_STEMS[modality])
    for path in (stem + ".npy", stem + ".txt"):
        if os.path.isfile(path):
            return path
    raise InputError("%s.txt: file not found (nor %s.npy)" % (stem, FEATURE_STEMS[modality]))


def load_dataset(data_dir, modalities, log=print):
    """Load train/test(/validation) and the requested feature files from ``data_dir``.

    Warnings about the splits (skipped test lines, held-out users without train items) are
    logged at every load, not only when the text is parsed.
    """
    if not os.path.isdir(data_dir):
        raise InputError("dataset folder %s does not exist" % data_dir)
    for modality in modalities:  # a missing file is found before the splits are parsed
        feature_source(data_dir, modality)
    dataset = load_splits(data_dir, log)
    add_features(dataset, data_dir, modalities, log)
    return dataset


def load_splits(data_dir, log=print):
    """The split files of ``data_dir`` as a Dataset without features (``add_features``
    reads those once the model says which it needs)."""
    if not os.path.isdir(data_dir):
        raise InputError("dataset folder %s does not exist" % data_dir)
    train_path, test_path, valid_path = [os.path.join(data_dir, name) for name in SPLIT_FILES]
    sources = [train_path, test_path] + ([valid_path] if os.path.exists(valid_path) else [])
    for path in sources:
        if not os.path.isfile(path):
            raise InputError("%s: file not found" % path)
    arrays = cached(data_dir, "interactions", sources,
                    lambda: parse_interactions(train_path, test_path, valid_path), log)
    for message in arrays["warnings"]:
        log("warning: %s" % message)
    refuse_untestable(test_path, arrays["test_pairs"], arrays["train_indptr"])
    return Dataset(train_path, int(arrays["n_users"]), int(arrays["n_items"]),
                   arrays["train_indptr"], arrays["train_items"], arrays["test_pairs"],
                   arrays["valid_pairs"], {})


def add_features(dataset, data_dir, modalities, log=print):
    """Read the feature file of each of ``modalities`` into ``dataset.features``."""
    for modality in modalities:
        path = feature_source(data_dir, modality)
        if path.endswith(".npy"):
            matrix = read_npy_features(path, dataset.n_items)
        else:
            matrix = cached(data_dir, "features_" + modality, [path],
                            lambda: {"matrix": read_features(path, dataset.n_items)},
                            log)["matrix"]
        dataset.features[modality] = aligned(matrix)


def random_features(features, seed):
    """The control for content: each modality's matrix replaced by a seeded standard normal
    matrix of the same shape whose rows have the original rows' L2 norms (a zero row stays
    zero). A model that scores as well on these has not used the content."""
    replaced = {}
    for index, modality in enumerate(sorted(features)):
        matrix = np.asarray(features[modality], dtype=np.float32)
        noise = np.random.RandomState([seed, index]).standard_normal(matrix.shape)
        norms = np.linalg.norm(matrix.astype(np.float64), axis=1, keepdims=True)
        scale = norms / np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
        replaced[modality] = aligned((noise * scale).astype(np.float32))
    return replaced


def refuse_untestable(test_path, test_pairs, train_indptr):
    """An InputError when no test user could be evaluated: ``test_path`` holds no pairs
    (empty, or every line skipped), or none of its users has a train item. A whole run
    would otherwise train and report metrics over no users."""
    if not len(test_pairs):
        raise InputError("%s: no test pairs ('uid iid' lines); every user evaluated comes "
                         "from this file" % test_path)
    has_train = np.diff(train_indptr) > 0
    users = np.unique(test_pairs[:, 0])
    if not has_train[users].any():
        raise InputError("%s: none of its %d users has items in train.txt, so no ranking "
                         "could be learned for any of them" % (test_path, len(users)))


def checksum(arrays):
    """SHA-1 over the names, dtypes, shapes and bytes of a dict of arrays."""
    digest = hashlib.sha1()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(("%s|%s|%s|" % (key, value.dtype.str, value.shape)).encode())
        digest.update(value.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def read_cache(path):
    """The arrays stored at ``path``, or None if the file is damaged or fails its checksum."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except Exception:  # numpy and zipfile raise a dozen types on bad bytes: all mean rebuild
        return None
    stored_sum = arrays.pop(CHECKSUM_KEY, None)
    if stored_sum is None or stored_sum.shape != () or str(stored_sum) != checksum(arrays):
        return None
    return arrays


def cached(data_dir, name, sources, build, log=print, extra_key=""):
    """``build()``'s dict of arrays, from ``.cache/<name>.npz`` while sources are unchanged."""
    signature = hashlib.sha1(CACHE_VERSION.encode())
    for path in sources:
        stat = os.stat(path)
        signature.update(("%s|%d|%d|" % (os.path.abspath(path), stat.st_size,
                                         stat.st_mtime_ns)).encode())
    signature.update(extra_key.encode())
    cache_dir = os.path.join(data_dir, ".cache")
    cache_path = os.path.join(cache_dir, "%s-%s.npz" % (name, signature.hexdigest()[:16]))
    if os.path.exists(cache_path):
        arrays = read_cache(cache_path)
        if arrays is not None:
            return arrays
        log("note: cache %s is corrupted; rebuilding" % cache_path)
    start = time.time()
    arrays = build()
    try:
        os.makedirs(cache_dir, exist_ok=True)
        for stale in os.listdir(cache_dir):
            if stale.startswith(name + "-"):
                os.remove(os.path.join(cache_dir, stale))
        temporary = cache_path + ".tmp.npz"
        np.savez(temporary, **dict(arrays, **{CHECKSUM_KEY: np.array(checksum(arrays))}))
        os.replace(temporary, cache_path)
    except OSError as error:  # a read-only data folder still loads, just without a cache
        log("note: could not write cache %s (%s)" % (cache_path, error))
    log("parsed %s in %.1fs (cached for next time)" % (name, time.time() - start))
    return arrays


# ------------------------------------------------------------------------ text files
def shown(text, limit=60):
    """A piece of a raw line, quoted on one line whatever bytes it holds."""
    return ascii(text[:limit].decode("latin-1").strip())


def numbered_lines(path):
    """(line number, raw bytes) of each line of ``path`` holding more than whitespace.

    Bytes, not text: a stray non-ASCII byte then fails the number parsing of its line
    (a located error) instead of a decoding error somewhere in the file.
    """
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise InputError("%s: cannot open (%s)" % (path, error.strerror))
    with handle:
        for line_no, line in enumerate(handle, 1):
            if not line.isspace():
                yield line_no, line


def is_integer(token):
    """Decimal digits, optionally after one minus sign (what counts as an id, maybe bad)."""
    return token.isdigit() or (token[:1] == b"-" and token[1:].isdigit())


def parse_ids(path, line_no, line):
    """The ids of a raw line's tokens: decimal integers in 0..MAX_ID, else a located error
    naming the first bad token and its column (1-based, in bytes)."""
    tokens = line.split()
    if not b"".join(tokens).isdigit() and not all(map(is_integer, tokens)):
        bad = next(match for match in re.finditer(rb"\S+", line)
                   if not is_integer(match.group()))
        raise located(path, line_no, "ids must be integers, got %s at column %d"
                      % (shown(bad.group()), bad.start() + 1))
    ids = [int(token) for token in tokens]
    if min(ids) < 0:
        raise located(path, line_no, "ids must be non-negative, got %d" % min(ids))
    if max(ids) > MAX_ID:
        raise located(path, line_no, "id %d is too large (ids go up to %d)" % (max(ids), MAX_ID))
    return ids


def id_lines(path):
    """(line number, ids) of each non-blank ``id id ...`` line; bad ids are located errors."""
    for line_no, line in numbered_lines(path):
        yield line_no, parse_ids(path, line_no, line)


def read_train(path):
    """``uid iid iid ...`` lines -> {uid: [items in file order]}; one line per uid, with items."""
    lists, first_line = {}, {}
    for line_no, ids in id_lines(path):
        user = ids[0]
        if user in lists:
            raise located(path, line_no, "user %d already has a line (line %d)"
                          % (user, first_line[user]))
        if len(ids) < 2:
            raise located(path, line_no, "user %d has no items (expected 'uid iid iid ...')"
                          % user)
        lists[user], first_line[user] = ids[1:], line_no
    if not lists:
        raise InputError("%s: no interactions found" % path)
    return lists


def read_pairs(path, skip_malformed):
    """``uid iid [iid ...]`` lines -> (int64 pairs (n, 2), line number of each pair, skipped).

    The release silently skips test lines that do not parse; we skip them too (when
    ``skip_malformed``) but say so, since a typo would otherwise shrink the test set unseen.
    Only unparsable lines are skipped: negative or too large ids are errors even then.
    """
    pairs, line_numbers, skipped = [], [], []
    for line_no, line in numbered_lines(path):
        tokens = line.split()
        try:
            if len(tokens) < 2:
                raise located(path, line_no, "expected 'uid iid', got %s" % shown(line))
            ids = parse_ids(path, line_no, line)
        except InputError as error:
            if not skip_malformed or (len(tokens) >= 2 and all(map(is_integer, tokens))):
                raise
            skipped.append(str(error))
            continue
        pairs.extend((ids[0], item) for item in ids[1:])
        line_numbers.extend([line_no] * (len(ids) - 1))
    return (np.array(pairs, dtype=np.int64).reshape(-1, 2),
            np.array(line_numbers, dtype=np.int64), skipped)


def held_out_warnings(path, pairs, line_numbers, has_train):
    """A warning (a list of at most one) if some held-out users of ``path`` have no train items.

    Not an error: the release evaluates such users too, so a split holding them still
    reproduces its numbers; but they are ranked from an untrained embedding, so say so.
    """
    cold = np.flatnonzero(~has_train[pairs[:, 0]])
    if not len(cold):
        return []
    first, n_lines = cold[0], len(np.unique(line_numbers[cold]))
    return ["%s:%d: user %d has no train items, so its ranking is uninformed (%d such line%s)"
            % (path, line_numbers[first], pairs[first, 0], n_lines, "" if n_lines == 1 else "s")]


def parse_interactions(train_path, test_path, valid_path):
    """The split files -> counts, CSR train lists and warnings; n_items = max item id + 1
    over the three files (n_users likewise)."""
    lists = read_train(train_path)
    test_pairs, test_lines, skipped = read_pairs(test_path, skip_malformed=True)
    messages = ["skipped (as the release does) %s" % message for message in skipped]
    valid_pairs, valid_lines = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    if os.path.exists(valid_path):
        valid_pairs, valid_lines, _ = read_pairs(valid_path, skip_malformed=False)
    # The release counts over train and test; validation.txt (this project's) counts too,
    # so that an id only it names is an item without train interactions, not an error.
    held_out = np.concatenate([test_pairs, valid_pairs])
    n_users = max(max(lists), int(held_out[:, 0].max(initial=-1))) + 1
    n_items = max(max(max(items) for items in lists.values()),
                  int(held_out[:, 1].max(initial=-1))) + 1
    lengths = np.zeros(n_users, dtype=np.int64)
    for user, items in lists.items():
        lengths[user] = len(items)
    for path, pairs, line_numbers in ((test_path, test_pairs, test_lines),
                                      (valid_path, valid_pairs, valid_lines)):
        messages.extend(held_out_warnings(path, pairs, line_numbers, lengths > 0))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    train_items = np.zeros(indptr[-1], dtype=np.int64)
    for user, items in lists.items():
        train_items[indptr[user]:indptr[user + 1]] = items
    return {"n_users": np.array(n_users), "n_items": np.array(n_items),
            "train_indptr": indptr, "train_items": train_items,
            "test_pairs": test_pairs, "valid_pairs": valid_pairs,
            "warnings": np.array(messages, dtype=str)}


# ------------------------------------------------------------------------ feature files
def first_bad_value(path, where, values):
    """A located error for the first non-finite float32 of ``values`` (a row), else None."""
    with np.errstate(over="ignore"):  # an overflow is what this reports
        row = values.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(row))
    if not len(bad):
        return None
    value = values[bad[0]]
    what = ("NaN" if np.isnan(value) else "infinite" if np.isinf(value)
            else "%r, beyond float32" % float(value))
    return InputError("%s:%s: feature %d is %s; features must be finite numbers"
                      % (path, where, bad[0] + 1, what))


def read_features(path, n_items):
    """``iid f1 ... fD`` lines -> float32 (n_items, D); items without a line stay zero.

    Each item at most once, with an id among the splits' items (0..n_items-1), and every
    value finite as a float32.
    """
    matrix, seen = None, np.zeros(n_items, dtype=bool)
    with warnings.catch_warnings():
        # numpy 1.x only warns where 2.x raises on a non-number; make both raise.
        warnings.simplefilter("error", DeprecationWarning)
        for line_no, line in numbered_lines(path):
            try:
                values = np.fromstring(line, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                raise located(path, line_no, "not a list of numbers: %s..." % shown(line))
            if matrix is None:
                if len(values) < 2:
                    raise located(path, line_no, "expected 'iid f1 ... fD'")
                matrix = np.zeros((n_items, len(values) - 1), dtype=np.float32)
            elif len(values) != matrix.shape[1] + 1:
                raise located(path, line_no, "%d features, but earlier lines have %d"
                              % (len(values) - 1, matrix.shape[1]))
            token = line.split(None, 1)[0]
            if not token.isdigit():
                raise located(path, line_no, "item id must be a non-negative integer, got %s"
                              % shown(token))
            item = int(token)
            if item >= n_items:
                raise located(path, line_no, "item %d is not an item of the splits (ids 0..%d)"
                              % (item, n_items - 1))
            if seen[item]:
                raise located(path, line_no, "item %d already has a line" % item)
            error = first_bad_value(path, line_no, values[1:])
            if error:
                raise error
            seen[item] = True
            matrix[item] = values[1:]
    if matrix is None:
        raise InputError("%s: no feature rows" % path)
    return matrix


def read_npy_features(path, n_items):
    """Row i of a float32/float64 ``(n_items, D)`` .npy file = item i's features.

    A C-ordered float32 file is returned as its read-only memory map: nothing is copied and,
    numpy padding the header to 64 bytes, its data are aligned for a copy-free feed. Other
    layouts are converted into an aligned float32 matrix. Values are checked for finiteness
    a block of rows at a time, so that a large file is never held in memory twice.
    """
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as error:  # numpy raises many types on bad bytes (tokenize.TokenError
        # from a cut header, TypeError from a garbled dtype, ...): all mean unreadable
        raise InputError("%s: not a readable .npy file (%s: %s)" % (
            path, type(error).__name__, (str(error).splitlines() or [""])[0]))
    if not isinstance(matrix, np.ndarray):  # an .npz archive under a .npy name
        matrix.close()
        raise InputError("%s: an .npz archive, not a .npy matrix" % path)
    if matrix.dtype.kind != "f" or matrix.dtype.itemsize not in (4, 8):
        raise InputError("%s: dtype %s; expected float32 or float64" % (path, matrix.dtype))
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise InputError("%s: shape %s; expected (n_items, D) with D >= 1"
                         % (path, matrix.shape))
    if matrix.shape[0] != n_items:
        raise InputError("%s: %d rows, but the splits have %d items (row i holds item i)"
                         % (path, matrix.shape[0], n_items))
    as_is = matrix.dtype == np.float32 and matrix.flags.c_contiguous
    result = matrix if as_is else aligned_empty(matrix.shape, np.float32)
    step = max(1, NPY_BLOCK_BYTES // (matrix.shape[1] * matrix.itemsize))
    for start in range(0, n_items, step):
        with np.errstate(over="ignore"):  # reported below as a value beyond float32
            block = np.asarray(matrix[start:start + step], dtype=np.float32)
        bad_rows = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if len(bad_rows):
            row = start + bad_rows[0]
            raise first_bad_value(path, "row %d" % row, np.asarray(matrix[row], np.float64))
        if not as_is:
            result[start:start + step] = block
    return result


def normalized_adjacency(dataset, adj_b, adj_a=0.5, self_loops=True):
    """L = diag(r)^-a (A + I) diag(r)^-b of the user-item graph, as sorted COO arrays.

    A = [[0, R], [R^T, 0]] with R the binary train matrix (repeats collapse), r the row sums
    of A + I. Without ``self_loops``, A replaces A + I (LightGCN's D^-0.5 A D^-0.5 with b =
    0.5); a node without edges then gets an empty row. Returns (indices int64 (nnz, 2),
    values float32 (nnz,), n_nodes).
    """
    import scipy.sparse as sp
    n_nodes = dataset.n_users + dataset.n_items
    keys = dataset.interaction_keys()
    users, items = keys // dataset.n_items, keys % dataset.n_items + dataset.n_users
    loops = np.arange(n_nodes) if self_loops else np.zeros(0, np.int64)
    rows = np.concatenate([users, items, loops])
    cols = np.concatenate([items, users, loops])
    a_hat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes))
    degree = np.asarray(a_hat.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        left = np.where(degree > 0, degree ** -adj_a, 0.0)
        right = np.where(degree > 0, degree ** -adj_b, 0.0)
    normalized = sp.diags(left).dot(a_hat).dot(sp.diags(right)).tocoo()
    order = np.lexsort((normalized.col, normalized.row))
    indices = np.stack([normalized.row[order], normalized.col[order]], axis=1).astype(np.int64)
    return indices, normalized.data[order].astype(np.float32), n_nodes


def cached_adjacency(data_dir, dataset, adj_b, log=print, self_loops=True):
    """The normalised adjacency of ``dataset``, cached beside the data like the parsed text."""
    sources, key = [os.path.join(data_dir, "train.txt")], "b=%r" % adj_b
    # One cache per normalisation, so that models on other graphs do not evict each other.
    name = "adjacency%s_b%g" % ("" if self_loops else "_no_self_loops", adj_b)
    if dataset.validation_held_out:
        # A different graph (the validation edges are gone), cached under its own name so
        # that runs with and without --valid do not evict each other's cache.
        sources.append(os.path.join(data_dir, "validation.txt"))
        name, key = name + "_without_validation", key + "|validation held out"
    arrays = cached(data_dir, name, sources, lambda: dict(zip(
        ("indices", "values", "n_nodes"), normalized_adjacency(dataset, adj_b,
                                                              self_loops=self_loops))),
        log, extra_key=key)
    return arrays["indices"], arrays["values"], int(arrays["n_nodes"])
