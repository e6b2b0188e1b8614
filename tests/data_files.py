"""Small valid dataset folders, written byte for byte, for the loader's validation tests."""
import os

import numpy as np

SPLITS = ("train.txt", "test.txt", "validation.txt")
FEATURES = ("item2imgfeat.txt", "itemtitle2vec.txt")


def quiet(*args):
    """A log that drops everything."""


def small_files(seed=0, n_users=6, n_items=9, dims=(3, 2)):
    """{file name: bytes} of a valid dataset: the three splits and both feature files.

    Every user has three train items, validation its first train item (as in the public
    splits) and one more item in test; every item has a feature line, in shuffled order.
    """
    rng = np.random.RandomState(seed)
    lines = {name: [] for name in SPLITS + FEATURES}
    for user in range(n_users):
        items = rng.choice(n_items, 4, replace=False)
        lines["train.txt"].append(" ".join(map(str, [user] + list(items[:3]))))
        lines["validation.txt"].append("%d %d" % (user, items[0]))
        lines["test.txt"].append("%d %d" % (user, items[3]))
    n_items = 1 + max(int(item) for name in SPLITS[:2] for line in lines[name]
                      for item in line.split()[1:])
    for name, dim in zip(FEATURES, dims):
        for item in rng.permutation(n_items):
            values = rng.randint(-999, 1000, size=dim) / 100.0
            lines[name].append("%d %s" % (item, " ".join("%.2f" % v for v in values)))
    return {name: ("\n".join(rows) + "\n").encode() for name, rows in lines.items()}


def write_files(folder, files):
    """Write ``{name: bytes}`` into ``folder`` (created); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(content)
    return folder


def snapshot(dataset):
    """Everything a loaded dataset holds, as plain comparable values."""
    return {"n_users": dataset.n_users, "n_items": dataset.n_items,
            "train_indptr": dataset.train_indptr.tolist(),
            "train_items": dataset.train_items.tolist(),
            "test_pairs": dataset.test_pairs.tolist(), "valid_pairs": dataset.valid_pairs.tolist(),
            "features": {name: np.asarray(matrix).tolist()
                         for name, matrix in dataset.features.items()}}
