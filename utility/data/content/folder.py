"""The folder of a real-content dataset: leave-one-out splits in time order, the item and
user tables, the feature matrices, the statistics (written last: they mark a complete
folder), all built in a temporary folder renamed into place only when complete."""
import collections
import os
import re
import shutil
import time

import numpy as np

from utility.common.atomic import (TEMPORARY_MARK, missing_folders, remove_empty,
                                   temporary_path, write_atomically, write_json_atomically)
from utility.common.errors import InputError

STATISTICS_FILE = "statistics.json"  # written last: its presence marks a complete folder
TEXT_FEATURES = "itemtitle2vec.npy"
IMAGE_FEATURES = "item2imgfeat.npy"
TEXT_BATCH = 64


def leave_one_out(sequences):
    """Split time-ordered item lists: ``(train lists, validation pairs, test pairs)``.

    A user's last item is its test item and the one before it its validation item; the train
    list is everything but the test item (the validation item included, at its place, as in
    the release's splits; ``--valid`` removes it at load). A user with two items gets no
    validation item, one with a single item neither validation nor test.
    """
    train, validation, test = [], [], []
    for user, items in enumerate(sequences):
        items = list(items)
        if len(items) >= 2:
            test.append((user, items[-1]))
            items = items[:-1]
        if len(items) >= 2:
            validation.append((user, items[-1]))
        train.append(items)
    return train, validation, test


def write_splits(folder, train, validation, test):
    def lines(path, rows):
        write_atomically(os.path.join(folder, path),
                         lambda out: out.writelines(" ".join(map(str, row)) + "\n"
                                                    for row in rows))
    lines("train.txt", ([user] + items for user, items in enumerate(train) if items))
    lines("validation.txt", validation)
    lines("test.txt", test)


def write_table(path, rows):
    """Tab-separated rows; tabs and line breaks inside a field become spaces."""
    def clean(value):
        return re.sub(r"[\t\r\n]+", " ", str(value))
    write_atomically(path, lambda out: out.writelines(
        "\t".join(clean(value) for value in row) + "\n" for row in rows))


def write_matrix(path, matrix):
    write_atomically(path, lambda out: np.save(out, np.ascontiguousarray(matrix, np.float32)),
                     binary=True)


def statistics(name, n_users, n_items, train, validation, test):
    """Counts of a split (interactions: each user's whole sequence, counted once)."""
    n_interactions = sum(len(items) for items in train) + len(test)
    return collections.OrderedDict([
        ("dataset", name), ("users", n_users), ("items", n_items),
        ("interactions", n_interactions),
        ("train_entries", sum(len(items) for items in train)),
        ("validation", len(validation)), ("test", len(test)),
        ("density", n_interactions / float(max(1, n_users * n_items)))])


def interaction_counts(train, test, n_items):
    """Interactions per item: the train lists (validation items included) plus the tests."""
    items = [item for items in train for item in items] + [item for _, item in test]
    return np.bincount(np.asarray(items, dtype=np.int64), minlength=n_items)


def coverage(has_content, per_item):
    """``(items with content, % of interactions on such items)``."""
    has_content = np.asarray(has_content, dtype=bool)
    total = float(max(1, per_item.sum()))
    return int(has_content.sum()), round(100.0 * float(per_item[has_content].sum()) / total, 2)


def text_statistics(matrix, texts, per_item):
    """The ``text`` entry of statistics.json: row i of ``matrix`` encodes ``texts[i]`` (empty:
    a zero row); ``per_item``: interaction counts (interaction_counts)."""
    with_text, covered = coverage([bool(text) for text in texts], per_item)
    return collections.OrderedDict([
        ("dim", int(matrix.shape[1])), ("items_with_title", with_text),
        ("empty_titles", len(texts) - with_text), ("interactions_covered_pct", covered),
        ("empty_title_items", [item for item, text in enumerate(texts) if not text])])


def image_statistics(matrix, has_picture, per_item):
    """The ``image`` entry of statistics.json: ``has_picture[i]`` says whether row i of
    ``matrix`` encodes a picture (else it is a zero row)."""
    with_picture, covered = coverage(has_picture, per_item)
    return collections.OrderedDict([
        ("dim", int(matrix.shape[1])), ("items_with_poster", with_picture),
        ("zero_rows", len(has_picture) - with_picture), ("interactions_covered_pct", covered)])


def statistics_lines(stats):
    lines = ["%s: %d users, %d items, %d interactions (train entries %d incl. validation, "
             "validation %d, test %d), density %.5f"
             % (stats["dataset"], stats["users"], stats["items"], stats["interactions"],
                stats["train_entries"], stats["validation"], stats["test"], stats["density"])]
    text = stats.get("text")
    if text:
        lines.append("text features %d-d: %d items with a title (%.2f %% of interactions), "
                     "%d empty titles (zero rows)"
                     % (text["dim"], text["items_with_title"], text["interactions_covered_pct"],
                        text["empty_titles"]))
    image = stats.get("image")
    if image:
        lines.append("image features %d-d: %d items with a poster (%.2f %% of interactions), "
                     "%d without (zero rows)"
                     % (image["dim"], image["items_with_poster"],
                        image["interactions_covered_pct"], image["zero_rows"]))
    posters = stats.get("posters")
    if posters:
        lines.append("posters: %d of %d movies matched to a MovieLens-1M title (%s); %d "
                     "unmatched and %d matched to a movie without a poster, listed in %s"
                     % (posters["matched"], stats["items"],
                        ", ".join("%s %d" % pair for pair in posters["by_rule"].items()),
                        posters["unmatched"], posters["matched_without_poster"],
                        posters["listed_in"]))
    return lines


def sweep_stale_builds(out):
    """Remove temporary build folders of ``out`` whose process is gone (a killed build)."""
    parent, base = os.path.split(os.path.abspath(out))
    for entry in os.listdir(parent):
        if not entry.startswith(base + TEMPORARY_MARK):
            continue
        pid = entry[len(base + TEMPORARY_MARK):].split("-")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but is not ours
    return True


def build_in_place(out, build):
    """Run ``build(work_folder)`` in a temporary folder beside ``out``; rename it to ``out``
    only when it succeeded. On any failure (Ctrl-C included) the folder is removed."""
    parent = os.path.dirname(os.path.abspath(out))
    work = temporary_path(out)
    created = missing_folders(work)
    try:
        os.makedirs(work)
        sweep_stale_builds(out)
    except OSError as error:
        remove_empty(created)
        raise InputError("cannot create a build folder in %s: %s"
                         % (parent, error.strerror or error))
    try:
        result = build(work)
        try:
            os.rename(work, out)
        except OSError as error:
            raise InputError("cannot move the finished dataset to %s: %s"
                             % (out, error.strerror or error))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        remove_empty(created[1:])  # the parents made for it, e.g. Data/
        raise
    return result


def build_dataset(out, build, started, log):
    """:func:`build_in_place` for ``build(work)`` returning the dataset's statistics, which
    are written last (with the seconds since ``started``) and logged; returns them."""
    def build_and_record(work):
        stats = build(work)
        stats["build_seconds"] = round(time.time() - started, 1)
        write_json_atomically(os.path.join(work, STATISTICS_FILE), stats)
        return stats

    stats = build_in_place(out, build_and_record)
    for line in statistics_lines(stats):
        log(line)
    return stats


def write_text_features(work, text_encoder, texts, n_items, log):
    """Encode ``texts`` (row i: item i), check there are ``n_items`` finite rows and write
    the matrix; returns it."""
    log("encoding %d titles (all-MiniLM-L6-v2)" % n_items)
    text = text_encoder.encode(texts, TEXT_BATCH, True)
    check_matrix(text, n_items, "text")
    write_matrix(os.path.join(work, TEXT_FEATURES), text)
    return text


def check_matrix(matrix, n_rows, kind):
    if matrix.ndim != 2 or matrix.shape[0] != n_rows or not np.all(np.isfinite(matrix)):
        raise InputError("the %s encoder returned a %s matrix for %d items (expected %d rows "
                         "of finite values)" % (kind, "x".join(map(str, matrix.shape)),
                                                n_rows, n_rows))
