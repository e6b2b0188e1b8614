"""Your own interactions, titles and pictures as a dataset folder, split as beauty14 and ml100k.

Usage::

    python -m utility.prepare_data own --interactions FILE --name NAME [--titles FILE]
        [--images DIR] [--user_column user_id] [--item_column item_id]
        [--time_column timestamp] [--image_model efficientnet_lite0|vgg16] [--data_path Data]

``--interactions``: a table with a header line, tab-separated (else comma-separated when the
header holds no tab), one interaction per line. The user and item columns hold any ids
(strings); the time column holds numbers (seconds, days, ...). A column's name may carry a
RecBole type suffix (``user_id:token``). Without a time column, each user's lines in file
order are its time order. Every interaction is kept (implicit feedback; a repeat weighs more).

``--titles``: ``<item id><TAB><title>`` lines (no header), ids as in the interactions; HTML
entities decoded. ``--images``: a folder of ``<item id>.jpg|jpeg|png``. Items of the
interactions without a title or a picture get a zero row (counted in the report); titles and
pictures of other items are ignored (counted). At least one of the two is needed.

The folder ``<data_path>/<NAME>/``: users and items numbered 0.. in ascending id order
(numeric when every id is a number), ``user_map.tsv`` and ``item_map.tsv`` from the new ids to
yours, each user's last interaction the test item and the one before it the validation item
(``train.txt`` lists it too, as the release's splits; ``--valid`` takes it out at load),
``items.tsv`` and ``itemtitle2vec.npy`` (384-d all-MiniLM-L6-v2) from the titles,
``item2imgfeat.npy`` from the pictures, and ``statistics.json``. It is built in a temporary
folder renamed into place when complete. Train with ``python main.py --dataset NAME
--modalities text`` (or ``image``, ``image,text``) and a batch no larger than the users.
"""
import argparse
import os
import re
import sys
import time

import numpy as np

from utility.common.errors import InputError, exit_on_input_error, located
from utility.common.text_files import utf8_lines
from utility.data.content import Encoders
from utility.data.content.folder import (IMAGE_FEATURES, build_dataset, check_matrix,
                                         image_statistics, interaction_counts, leave_one_out,
                                         statistics, text_statistics, write_matrix,
                                         write_splits, write_table, write_text_features)
from utility.data.features.command import pictures_by_item, read_title_lines, shown

COLUMN_FLAGS = ("--user_column", "--item_column", "--time_column")
SEPARATOR_NAMES = {"\t": "tab", ",": "comma"}


def _column(header, name):
    """Position of column ``name`` in ``header`` (a ``:type`` suffix ignored), or None."""
    bare = [field.split(":")[0] for field in header]
    if name in bare:
        return bare.index(name)
    if name in header:
        return header.index(name)
    return None


def read_interactions(path, user_column, item_column, time_column, time_required):
    """Rows ``(user id, item id, time or None)`` (strings, a float) in file order."""
    lines = utf8_lines(path)
    _, header_line = next(lines, (1, ""))
    if not header_line.strip():
        raise located(path, 1, "expected a header line naming the columns (%s, %s, %s)"
                      % (user_column, item_column, time_column))
    separator = "\t" if "\t" in header_line else ","
    header = [field.strip() for field in header_line.split(separator)]
    names = (user_column, item_column, time_column)
    user_at, item_at, time_at = positions = [_column(header, name) for name in names]
    for name, flag, position in zip(names, COLUMN_FLAGS, positions):
        if position is None and (flag != "--time_column" or time_required):
            raise located(path, 1, "no column %r in the header (%s); name the column with %s"
                          % (name, ", ".join(header), flag))
    rows = []
    for line_no, line in lines:
        if not line.strip():
            continue
        fields = line.split(separator)
        if len(fields) != len(header):
            raise located(path, line_no, "expected %d %s-separated fields as in the header, "
                                         "got %d" % (len(header), SEPARATOR_NAMES[separator],
                                                     len(fields)))
        user, item = fields[user_at].strip(), fields[item_at].strip()
        if not user or not item:
            raise located(path, line_no, "empty user or item id")
        stamp = None
        if time_at is not None:
            try:
                stamp = float(fields[time_at])
            except ValueError:
                raise located(path, line_no, "%s must be a number, got %r"
                              % (time_column, fields[time_at].strip()))
            if not np.isfinite(stamp):
                raise located(path, line_no, "%s must be finite" % time_column)
        rows.append((user, item, stamp))
    if not rows:
        raise InputError("%s: no interactions after the header" % path)
    return rows


def id_order(ids):
    """Distinct ``ids`` ascending: as numbers when every one is a number, else as text."""
    ids = set(ids)
    if all(identifier.isdigit() for identifier in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def sequences_in_time_order(rows):
    """``(user ids, item ids, per-user item lists)``: each user's items by time, equal times
    (or no time column) in file order."""
    user_ids = id_order(user for user, _, _ in rows)
    item_ids = id_order(item for _, item, _ in rows)
    user_of = {user: position for position, user in enumerate(user_ids)}
    item_of = {item: position for position, item in enumerate(item_ids)}
    events = [[] for _ in user_ids]
    for order, (user, item, stamp) in enumerate(rows):
        events[user_of[user]].append((stamp or 0.0, order, item_of[item]))
    return user_ids, item_ids, [[item for _, _, item in sorted(pairs)] for pairs in events]


def read_titles(path, item_ids):
    """``(titles by new item id, ids of other items with a title)``: lines
    ``<item id><TAB><title>``; a repeated id is an error."""
    titles = read_title_lines(path, lambda identifier, tab: identifier if tab else None,
                              "'<item id><TAB><title>'")
    known = set(item_ids)
    return ([titles.get(item, "") for item in item_ids],
            [item for item in titles if item not in known])


def picture_paths(folder, item_ids):
    """``(a path per new item id, names of other files)``: ``<item id>.jpg|jpeg|png``; an
    item without one names its absent ``<id>.jpg`` (the encoder counts it missing)."""
    known = set(item_ids)
    found, others = pictures_by_item(folder, lambda stem: stem if stem in known else None)
    return [found.get(item, os.path.join(folder, item + ".jpg")) for item in item_ids], others


def build_own(work, name, interactions, columns, titles_path, images, encoders, log=print):
    """Write dataset ``name`` into ``work``; returns its statistics. ``columns``: (user,
    item, time, whether the time column must exist); ``encoders``: text() and image()
    loaders."""
    rows = read_interactions(interactions, *columns)
    user_ids, item_ids, sequences = sequences_in_time_order(rows)
    timed = rows[0][2] is not None
    log("%s: %d interactions of %d users on %d items, %s"
        % (interactions, len(rows), len(user_ids), len(item_ids),
           "ordered by %s" % columns[2] if timed else "in file order (no %s column)"
           % columns[2]))
    n_items = len(item_ids)
    train, validation, test = leave_one_out(sequences)
    write_splits(work, train, validation, test)
    write_table(os.path.join(work, "user_map.tsv"), enumerate(user_ids))
    write_table(os.path.join(work, "item_map.tsv"), enumerate(item_ids))
    stats = statistics(name, len(user_ids), n_items, train, validation, test)
    per_item = interaction_counts(train, test, n_items)
    if titles_path:
        titles, others = read_titles(titles_path, item_ids)
        if others:
            log("%s: ignored the titles of %d items not in the interactions: %s"
                % (titles_path, len(others), shown(others)))
        write_table(os.path.join(work, "items.tsv"), enumerate(titles))
        text = write_text_features(work, encoders.text(), titles, n_items, log)
        stats["text"] = text_statistics(text, titles, per_item)
    if images:
        paths, others = picture_paths(images, item_ids)
        if others:
            log("%s: ignored %d files that are not <item id>.jpg|jpeg|png of an item in the "
                "interactions: %s" % (images, len(others), shown(others)))
        log("encoding %d pictures" % n_items)
        image, report = encoders.image().encode_files(paths)
        image = np.asarray(image, dtype=np.float32)
        check_matrix(image, n_items, "image")
        log("pictures: %s" % report.summary())
        write_matrix(os.path.join(work, IMAGE_FEATURES), image)
        has_picture = np.ones(n_items, dtype=bool)
        has_picture[list(report.zero_rows)] = False
        stats["image"] = image_statistics(image, has_picture, per_item)
    return stats


def prepare_own(name, interactions, titles=None, images=None, columns=None,
                data_path="Data", encoders=None, log=print):
    """Build ``<data_path>/<name>/``; returns the folder. ``columns`` as in build_own
    (default: user_id, item_id, timestamp if present); ``encoders`` default to the pinned
    pretrained ones (tests pass stand-ins)."""
    started = time.time()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise InputError("--name must be a folder name of letters, digits, '_', '.' or '-', "
                         "got %r" % name)
    from utility.config.flags import dataset_preset
    if dataset_preset(name):
        raise InputError("--name %s is a preset of main.py's --dataset (its own folder and "
                         "settings); choose another name" % name)
    if not titles and not images:
        raise InputError("nothing to encode: give --titles FILE, --images DIR or both")
    for path, exists, what in ((interactions, os.path.isfile, "interactions file"),
                               (titles, os.path.isfile, "titles file"),
                               (images, os.path.isdir, "picture folder")):
        if path and not exists(path):
            raise InputError("%s %s does not exist" % (what, path))
    out = os.path.join(data_path, name)
    if os.path.exists(out):
        raise InputError("%s exists; remove it or choose another --name" % out)
    encoders = encoders or Encoders(None, log)
    columns = columns or ("user_id", "item_id", "timestamp", False)
    stats = build_dataset(out, lambda work: build_own(work, name, interactions, columns, titles,
                                                      images, encoders, log), started, log)
    log("wrote %s in %.1f s; train with: python main.py --dataset %s --data_path %s "
        "--modalities %s%s" % (out, time.time() - started, name, data_path,
                               ",".join(m for m, given in (("image", images),
                                                           ("text", titles)) if given),
                               batch_flag(stats["users"])))
    return out


def batch_flag(n_users):
    """`` --batch_size B`` when main.py's default batch (the release's) cannot be filled
    with distinct users: the largest power of two up to half of them; else ''."""
    from utility.config.flags import COMMON
    if n_users >= COMMON["batch_size"]:
        return ""
    return " --batch_size %d" % (1 << max(0, (n_users // 2).bit_length() - 1))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


def main(argv=None, log=print):
    parser = _Parser(prog="python -m utility.prepare_data own",
                     description="Your own interactions, titles and pictures as a dataset "
                                 "folder (leave-one-out in time order, real-content "
                                 "features).")
    add = parser.add_argument
    add("--interactions", required=True, help="table with a header: user, item, time columns")
    add("--name", required=True, help="the dataset's folder name under --data_path")
    add("--titles", help="'<item id><TAB><title>' lines")
    add("--images", help="folder of <item id>.jpg|jpeg|png")
    add("--user_column", default="user_id")
    add("--item_column", default="item_id")
    add("--time_column", default=None,
        help="numeric time column (default: timestamp if the header has one, else file "
             "order)")
    add("--image_model", default="efficientnet_lite0", choices=("efficientnet_lite0", "vgg16"))
    add("--mirror", default=None, metavar="DIR",
        help="offline: a folder whose packages/ holds the pinned model wheels")
    add("--data_path", default="Data", help="parent of the output folder (default Data)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    columns = (args.user_column, args.item_column, args.time_column or "timestamp",
               args.time_column is not None)
    prepare_own(args.name, args.interactions, args.titles, args.images, columns,
                args.data_path, Encoders(args.mirror, log, image_model=args.image_model), log)
    return 0


if __name__ == "__main__":
    sys.exit(exit_on_input_error(main))
