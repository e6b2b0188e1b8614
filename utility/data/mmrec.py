"""Convert a dataset in MMRec's layout (Amazon Baby, Sports, Clothing, ...) to this project's.

Usage::

    python -m utility.prepare_data mmrec --source DIR --name NAME [--data_path Data]

MMRec's folder holds ``<name>.inter``, tab-separated with a header naming at least
``userID``, ``itemID`` and ``x_label`` (0 train, 1 validation, 2 test; ids from 0), and the
item features ``image_feat.npy`` and ``text_feat.npy`` (row i = item i). The conversion writes
``<data_path>/<NAME>/``:

* ``train.txt`` (``uid iid iid ...``, the user's train items in file order, repeats kept),
  ``validation.txt`` and ``test.txt`` (``uid iid``, one line per interaction, so a user may
  have several), users ascending;
* ``item2imgfeat.npy`` and ``itemtitle2vec.npy``: float32, row i = item i.

Counts follow MMRec: there are (largest id + 1) users and items, and the validation and test
interactions of users without train interactions are dropped, as MMRec's
``filter_out_cod_start_users`` (on for all its datasets) does.

Every input is checked before anything is written, so bad input leaves no output at all;
each file is written to a temporary name and renamed into place, and if writing fails
midway the files of this run are removed again.
"""
import argparse
import os
import time

import numpy as np

from utility.common.atomic import missing_folders, remove_empty, remove_quietly, write_atomically
from utility.common.errors import InputError, located

REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
SPLITS = ("train", "validation", "test")  # x_label 0, 1, 2
# (modality, MMRec's file, this project's file)
FEATURE_FILES = (("image", "image_feat.npy", "item2imgfeat.npy"),
                 ("text", "text_feat.npy", "itemtitle2vec.npy"))
CHUNK_ROWS = 4096  # feature rows checked and converted at a time (16 MB at 4096 x 4096 x 4)


# ---------------------------------------------------------------------------------------
# Reading MMRec's files


def find_inter_file(source, name):
    """``<source>/<name>.inter`` if present, else the folder's only ``*.inter`` file."""
    if not os.path.isdir(source):
        raise InputError("source folder %s does not exist" % source)
    preferred = os.path.join(source, name + ".inter")
    if os.path.isfile(preferred):
        return preferred
    found = sorted(entry for entry in os.listdir(source) if entry.endswith(".inter"))
    if len(found) == 1:
        return os.path.join(source, found[0])
    if not found:
        raise InputError("%s: no .inter file (MMRec's interactions, e.g. baby.inter)" % source)
    raise InputError("%s: several .inter files (%s) and none is %s.inter; pass the one "
                     "to use as --name" % (source, ", ".join(found), name))


def _fields(line):
    return [field.strip() for field in line.rstrip("\r\n").split("\t")]


def _header_columns(path, line):
    """Positions of the required columns in the header line."""
    fields = _fields(line)
    missing = [column for column in REQUIRED_COLUMNS if column not in fields]
    if not missing:
        return [fields.index(column) for column in REQUIRED_COLUMNS]
    if len(fields) == 1 and len(line.split()) > 1:
        raise located(path, 1, "the header is not tab-separated (MMRec's .inter files "
                               "separate fields by tabs), got %r" % line.strip())
    raise located(path, 1, "the header lacks %s; expected tab-separated column names "
                           "including %s, got %r"
                  % (", ".join(missing), ", ".join(REQUIRED_COLUMNS), line.strip()))


def _parse_row(path, line_no, line, width, positions):
    """(user, item, x_label) of one data line."""
    fields = _fields(line)
    if len(fields) != width:
        if len(fields) == 1 and len(line.split()) > 1:
            raise located(path, line_no, "fields must be separated by tabs, got %r"
                          % line.strip())
        raise located(path, line_no, "expected %d tab-separated fields as in the header, "
                                     "got %d" % (width, len(fields)))
    values = []
    for column, position in zip(REQUIRED_COLUMNS, positions):
        try:
            value = int(fields[position])
        except ValueError:
            raise located(path, line_no, "%s must be an integer, got %r"
                          % (column, fields[position]))
        if column == "x_label" and value not in (0, 1, 2):
            raise located(path, line_no, "x_label must be 0 (train), 1 (validation) or 2 "
                                         "(test), got %d" % value)
        if value < 0:
            raise located(path, line_no, "%s must be non-negative, got %d" % (column, value))
        values.append(value)
    return values


def read_inter(path):
    """The interactions of an MMRec ``.inter`` file: int64 array (n, 3) of
    (user, item, x_label) in file order. Blank lines are skipped."""
    rows = []
    try:
        with open(path) as handle:
            header = handle.readline()
            if not header.strip():
                raise located(path, 1, "%s; expected a tab-separated header naming %s"
                              % ("empty file" if not header else "empty first line",
                                 ", ".join(REQUIRED_COLUMNS)))
            positions = _header_columns(path, header)
            width = len(_fields(header))
            line_no = 1
            for line_no, line in enumerate(handle, 2):
                if line.strip():
                    rows.append(_parse_row(path, line_no, line, width, positions))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError("cannot read %s: %s" % (path, getattr(error, "strerror", None)
                                                 or error))
    if not rows:
        raise located(path, line_no + 1, "no interactions after the header")
    return np.array(rows, dtype=np.int64)


def read_feature_matrix(path, n_items):
    """``(first n_items rows, number of rows)`` of an ``items x D`` .npy matrix, mapped.

    Checks: a readable numeric 2-D array, at least one row per item, every value finite.
    """
    if not os.path.isfile(path):
        raise InputError("%s: file not found (MMRec's item features)" % path)
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError("%s: not a readable .npy array (%s)" % (path, error))
    if matrix.ndim != 2 or matrix.shape[1] == 0 or matrix.dtype.kind not in "fiu":
        raise InputError("%s: expected a numeric items x features matrix, got shape %s "
                         "of %s" % (path, matrix.shape, matrix.dtype))
    if matrix.shape[0] < n_items:
        raise InputError("%s: %d rows, fewer than the %d items of the interactions (row i "
                         "holds item i's features)" % (path, matrix.shape[0], n_items))
    n_rows, matrix = matrix.shape[0], matrix[:n_items]
    for start in range(0, n_items, CHUNK_ROWS):
        with np.errstate(over="ignore"):  # beyond float32 becomes inf: reported below
            block = matrix[start:start + CHUNK_ROWS].astype(np.float32)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = start + int(np.argmin(finite))
            raise InputError("%s: row %d (item %d) holds NaN or an infinite value (as "
                             "float32)" % (path, row, row))
    return matrix, n_rows


# ---------------------------------------------------------------------------------------
# Splitting and statistics


def split_interactions(rows):
    """``({split: (users, items)}, statistics)``: interactions grouped by x_label, stably
    sorted by user; validation and test interactions of users without train ones dropped."""
    users, items, labels = rows[:, 0], rows[:, 1], rows[:, 2]
    train_users = np.unique(users[labels == 0])
    order = np.argsort(users, kind="stable")
    splits, stats = {}, {"users": int(users.max()) + 1, "items": int(items.max()) + 1}
    for label, split in enumerate(SPLITS):
        chosen = order[labels[order] == label]
        kept = chosen[np.isin(users[chosen], train_users)]
        splits[split] = (users[kept], items[kept])
        stats[split] = len(kept)
        stats[split + "_users"] = len(np.unique(users[kept]))
        stats["dropped_" + split] = len(chosen) - len(kept)
    stats["users_without_train"] = len(np.setdiff1d(users, train_users))
    stats.update(_comparability_counts(splits, stats["items"]))
    return splits, stats


def _comparability_counts(splits, n_items):
    """Counts of the cases where this project and MMRec could treat the data differently.

    ``held_out_in_train``: validation and test interactions that repeat a train interaction
    of the same user; ``repeated_held_out``: those that repeat an earlier one of their own
    split; ``items_in_no_split``: how many of the largest item ids occur in no kept
    interaction (the loader counts items over the three split files).
    """
    def keys(split):
        return splits[split][0] * n_items + splits[split][1]
    train_keys = np.unique(keys("train"))
    held_out = [keys(split) for split in ("validation", "test")]
    counted = max(splits[split][1].max(initial=-1) for split in SPLITS) + 1
    return {"held_out_in_train": int(sum(np.isin(k, train_keys).sum() for k in held_out)),
            "repeated_held_out": int(sum(len(k) - len(np.unique(k)) for k in held_out)),
            "items_in_no_split": n_items - int(counted)}


def statistics_lines(stats, inter_name):
    """The printed summary of a conversion."""
    lines = ["%s: %d users, %d items (largest id + 1, as MMRec counts them)"
             % (inter_name, stats["users"], stats["items"])]
    lines.append("interactions: " + ", ".join(
        "%s %d (%d users)" % (split, stats[split], stats[split + "_users"])
        for split in SPLITS))
    lines.append("users without train items: %d (dropped with them, as MMRec does: %d "
                 "validation and %d test interactions)"
                 % (stats["users_without_train"], stats["dropped_validation"],
                    stats["dropped_test"]))
    lines.append("features (float32, row i = item i): " + ", ".join(
        "%s %d-d" % (modality, stats[modality + "_dim"]) for modality, _, _ in FEATURE_FILES))
    if stats["held_out_in_train"]:
        lines.append("note: %d validation/test interactions repeat a train interaction of "
                     "the same user (docs/mmrec.md: masking)" % stats["held_out_in_train"])
    if stats["repeated_held_out"]:
        lines.append("note: %d validation/test interactions repeat one of their own split "
                     "(docs/mmrec.md: the recall denominator)" % stats["repeated_held_out"])
    if stats["items_in_no_split"]:
        lines.append("warning: the largest %d item ids occur in no kept interaction; the "
                     "loader counts items over the split files and will refuse this "
                     "folder's features" % stats["items_in_no_split"])
    return lines


# ---------------------------------------------------------------------------------------
# Writing this project's files


def train_text(users, items):
    """``uid iid iid ...`` lines of (user-sorted) train interactions."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    stops = np.r_[starts[1:], len(users)]
    item_strings = items.astype(str)
    return "".join("%d %s\n" % (users[start], " ".join(item_strings[start:stop]))
                   for start, stop in zip(starts, stops))


def pair_text(users, items):
    """``uid iid`` lines."""
    return "".join("%d %d\n" % pair for pair in zip(users.tolist(), items.tolist()))


def write_text(path, text):
    write_atomically(path, lambda handle: handle.write(text))


def write_float32_npy(path, matrix):
    """Save ``matrix`` as a float32 .npy file, converting CHUNK_ROWS rows at a time."""
    def write(handle):
        np.lib.format.write_array_header_1_0(handle, {
            "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
            "fortran_order": False, "shape": tuple(matrix.shape)})
        for start in range(0, len(matrix), CHUNK_ROWS):
            handle.write(np.ascontiguousarray(matrix[start:start + CHUNK_ROWS],
                                              dtype="<f4").tobytes())
    write_atomically(path, write, binary=True)


def write_dataset(folder, splits, features):
    """Write the split files and feature matrices into ``folder``; if one fails, those
    already written (and the folders this call created) are removed."""
    created = missing_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise InputError("cannot create output folder %s: %s"
                         % (folder, error.strerror or error))
    jobs = [("train.txt", write_text, train_text(*splits["train"])),
            ("validation.txt", write_text, pair_text(*splits["validation"])),
            ("test.txt", write_text, pair_text(*splits["test"]))]
    jobs += [(target, write_float32_npy, features[modality])
             for modality, _, target in FEATURE_FILES]
    written = []
    try:
        for file_name, write, content in jobs:
            path = os.path.join(folder, file_name)
            write(path, content)
            written.append(path)
    except BaseException:
        for path in written:
            remove_quietly(path)
        remove_empty(created)  # deepest first
        raise


# ---------------------------------------------------------------------------------------
# The whole conversion


def _check_name(name):
    if not name or name in (".", "..") or os.path.basename(name) != name:
        raise InputError("--name must be a plain folder name, got %r" % name)


def convert(source, name, data_path="Data", log=print):
    """Convert the MMRec folder ``source`` into ``<data_path>/<name>``; return statistics.

    The statistics dict holds ``users``, ``items``, per split the interactions kept, their
    users and the ``dropped_`` ones, ``users_without_train``, the counts of
    :func:`_comparability_counts` and ``image_dim`` / ``text_dim``.
    """
    started = time.time()
    _check_name(name)
    inter_path = find_inter_file(source, name)
    rows = read_inter(inter_path)
    splits, stats = split_interactions(rows)
    if not stats["train"]:
        raise InputError("%s: no train interactions (x_label 0)" % inter_path)
    features = {}
    for modality, source_file, _ in FEATURE_FILES:
        path = os.path.join(source, source_file)
        features[modality], n_rows = read_feature_matrix(path, stats["items"])
        stats[modality + "_dim"] = features[modality].shape[1]
        if n_rows > stats["items"]:
            log("note: %s has %d rows beyond the %d items; they are left out"
                % (path, n_rows - stats["items"], stats["items"]))
    folder = os.path.join(data_path, name)
    write_dataset(folder, splits, features)
    for line in statistics_lines(stats, os.path.basename(inter_path)):
        log(line)
    log("wrote %s in %.1f s" % (folder, time.time() - started))
    return stats


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as an InputError (one ``error:`` line)."""

    def error(self, message):
        raise InputError(message)


def main(argv=None):
    """The ``mmrec`` subcommand of ``python -m utility.prepare_data``."""
    parser = _Parser(prog="python -m utility.prepare_data mmrec",
                     description="Convert a dataset in MMRec's layout (<name>.inter, "
                                 "image_feat.npy, text_feat.npy) into this project's format.")
    parser.add_argument("--source", required=True, metavar="DIR",
                        help="MMRec's dataset folder, e.g. data/baby")
    parser.add_argument("--name", required=True,
                        help="output folder name under --data_path (and the dataset name "
                             "for main.py --dataset)")
    parser.add_argument("--data_path", default="Data",
                        help="parent of the output folder (default: Data)")
    args = parser.parse_args(argv)
    convert(args.source, args.name, data_path=args.data_path)
    return 0
