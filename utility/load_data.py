"""Reading a dataset in the release's on-disk format (reference section 1), with a binary cache.

Text parsing happens once: the parsed arrays go to ``<data_dir>/.cache/*.npz``, keyed by the
size and modification time of every source file, so touching a file rebuilds its cache.
"""
import hashlib
import os
import time
import warnings

import numpy as np

from utility.errors import InputError, located

FEATURE_FILES = {"image": "item2imgfeat.txt", "text": "itemtitle2vec.txt"}
CACHE_VERSION = "1"
FEED_ALIGNMENT = 64  # bytes: enough for every SIMD width TensorFlow is built for


def aligned(matrix, alignment=FEED_ALIGNMENT):
    """``matrix``, or a copy of it whose data start at a multiple of ``alignment`` bytes.

    TensorFlow (1.15 and 2.x alike) feeds an aligned array without copying it and copies an
    unaligned one first; large numpy arrays start 16 bytes past a page boundary. At 100k x
    4096 features that copy was 1.6 GB more peak memory while feeding. (An empty matrix has
    no data to align.)
    """
    if matrix.nbytes == 0 or matrix.ctypes.data % alignment == 0:
        return matrix
    buffer = np.empty(matrix.nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    copy = buffer[start:start + matrix.nbytes].view(matrix.dtype).reshape(matrix.shape)
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


def load_dataset(data_dir, modalities, log=print):
    """Load train/test(/validation) and the requested feature files from ``data_dir``."""
    if not os.path.isdir(data_dir):
        raise InputError("dataset folder %s does not exist" % data_dir)
    sources = [os.path.join(data_dir, "train.txt"), os.path.join(data_dir, "test.txt")]
    valid_path = os.path.join(data_dir, "validation.txt")
    if os.path.exists(valid_path):
        sources.append(valid_path)
    feature_paths = [os.path.join(data_dir, FEATURE_FILES[m]) for m in modalities]
    for path in sources + feature_paths:
        if not os.path.isfile(path):
            raise InputError("%s: file not found" % path)
    arrays = cached(data_dir, "interactions", sources,
                    lambda: parse_interactions(*sources[:2], valid_path=valid_path), log)
    n_users, n_items = int(arrays["n_users"]), int(arrays["n_items"])
    features = {}
    for modality, path in zip(modalities, feature_paths):
        features[modality] = cached(
            data_dir, "features_" + modality, [path],
            lambda path=path: {"matrix": read_features(path, n_items, log)}, log)["matrix"]
    return Dataset(sources[0], n_users, n_items, arrays["train_indptr"], arrays["train_items"],
                   arrays["test_pairs"], arrays["valid_pairs"], features)


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
        with np.load(cache_path) as stored:
            return {key: stored[key] for key in stored.files}
    start = time.time()
    arrays = build()
    try:
        os.makedirs(cache_dir, exist_ok=True)
        for stale in os.listdir(cache_dir):
            if stale.startswith(name + "-"):
                os.remove(os.path.join(cache_dir, stale))
        temporary = cache_path + ".tmp.npz"
        np.savez(temporary, **arrays)
        os.replace(temporary, cache_path)
    except OSError as error:  # a read-only data folder still loads, just without a cache
        log("note: could not write cache %s (%s)" % (cache_path, error))
    log("parsed %s in %.1fs (cached for next time)" % (name, time.time() - start))
    return arrays


def parse_ids(path, line_no, tokens):
    try:
        ids = [int(token) for token in tokens]
    except ValueError:
        raise located(path, line_no, "ids must be integers, got %r" % " ".join(tokens))
    if min(ids) < 0:
        raise located(path, line_no, "ids must be non-negative, got %d" % min(ids))
    return ids


def id_lines(path):
    """(line number, ids) of each non-blank ``id id ...`` line; bad ids are located errors."""
    with open(path) as handle:
        for line_no, line in enumerate(handle, 1):
            tokens = line.split()
            if tokens:
                yield line_no, parse_ids(path, line_no, tokens)


def read_train(path):
    """``uid iid iid ...`` lines -> {uid: [items in file order]}; a uid may not repeat."""
    lists = {}
    for line_no, ids in id_lines(path):
        if ids[0] in lists:
            raise located(path, line_no, "user %d already has a line" % ids[0])
        lists[ids[0]] = ids[1:]
    if not lists:
        raise InputError("%s: no interactions found" % path)
    return lists


def read_pairs(path, skip_malformed):
    """``uid iid`` lines -> int64 array (n, 2).

    The release silently skips test lines that do not parse; we skip them too (when
    ``skip_malformed``) but say so, since a typo would otherwise shrink the test set unseen.
    """
    pairs, skipped = [], []
    with open(path) as handle:
        for line_no, line in enumerate(handle, 1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                if len(tokens) < 2:
                    raise located(path, line_no, "expected 'uid iid', got %r" % line.strip())
                ids = parse_ids(path, line_no, tokens)
            except InputError as error:
                if not skip_malformed or "non-negative" in str(error):
                    raise
                skipped.append(str(error))
                continue
            pairs.extend((ids[0], item) for item in ids[1:])
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), skipped


def parse_interactions(train_path, test_path, valid_path):
    """The split files -> counts and CSR train lists; n_items = max item id + 1."""
    lists = read_train(train_path)
    test_pairs, skipped = read_pairs(test_path, skip_malformed=True)
    for message in skipped:
        print("warning: skipped (as the release does) %s" % message)
    if os.path.exists(valid_path):
        valid_pairs, _ = read_pairs(valid_path, skip_malformed=False)
    else:
        valid_pairs = np.zeros((0, 2), dtype=np.int64)
    train_max_item = max(max(items) for items in lists.values() if items) \
        if any(lists.values()) else -1
    n_users = max(max(lists), int(test_pairs[:, 0].max(initial=-1))) + 1
    n_items = max(train_max_item, int(test_pairs[:, 1].max(initial=-1))) + 1
    if len(valid_pairs) and (valid_pairs[:, 0].max() >= n_users
                             or valid_pairs[:, 1].max() >= n_items):
        raise InputError("%s: ids beyond those of train.txt and test.txt" % valid_path)
    lengths = np.zeros(n_users, dtype=np.int64)
    for user, items in lists.items():
        lengths[user] = len(items)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    train_items = np.zeros(indptr[-1], dtype=np.int64)
    for user, items in lists.items():
        train_items[indptr[user]:indptr[user + 1]] = items
    return {"n_users": np.array(n_users), "n_items": np.array(n_items),
            "train_indptr": indptr, "train_items": train_items,
            "test_pairs": test_pairs, "valid_pairs": valid_pairs}


def read_features(path, n_items, log=print):
    """``iid f1 ... fD`` lines -> float32 (n_items, D); items without a line stay zero."""
    ids, rows = [], []
    width = None
    with open(path) as handle, warnings.catch_warnings():
        # numpy 1.x only warns where 2.x raises on a non-number; make both raise.
        warnings.simplefilter("error", DeprecationWarning)
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                values = np.fromstring(line, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                raise located(path, line_no, "not a list of numbers: %r..." % line[:60])
            if width is None:
                width = len(values)
                if width < 2:
                    raise located(path, line_no, "expected 'iid f1 ... fD'")
            elif len(values) != width:
                raise located(path, line_no, "%d features, but earlier lines have %d"
                              % (len(values) - 1, width - 1))
            item = values[0]
            if item != int(item) or item < 0:
                raise located(path, line_no, "item id must be a non-negative integer")
            ids.append(int(item))
            rows.append(values[1:].astype(np.float32))
    if width is None:
        raise InputError("%s: no feature rows" % path)
    ids = np.array(ids)
    matrix = np.zeros((n_items, width - 1), dtype=np.float32)
    known = ids < n_items
    if not known.all():
        log("note: %s has %d rows for items that never occur in train/test; ignored"
            % (path, int((~known).sum())))
    matrix[ids[known]] = np.stack(rows)[known]
    return matrix


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
    name = "adjacency" if self_loops else "adjacency_no_self_loops"
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
