"""MovieLens 100K (943 users, 1,682 movies) with posters and titles: RecBole's copy of the
ratings and movies (inside its pinned wheel), the MovieLens-1M titles whose ids name the
posters, and the posters pinned one by one in ``ml100k_posters.sha256`` beside this module."""
import collections
import os
import re
import zipfile

import numpy as np

from utility.common.atomic import sha256_of
from utility.common.errors import InputError, located
from utility.common.progress import REPORT_SECONDS, progress
from utility.data.content.folder import (IMAGE_FEATURES, check_matrix, image_statistics,
                                         interaction_counts, leave_one_out, statistics,
                                         text_statistics, write_matrix, write_splits,
                                         write_table, write_text_features)
from utility.data.content.movie_titles import (MATCH_RULES, article_first, match_movies,
                                               read_ml1m_movies)
from utility.data.content.sources import GithubFile, fetched
from utility.data.features import packages

POSTER_MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "ml100k_posters.sha256")
MOVIE_PAGES = ("liangfgithub/liangfgithub.github.io", "518cc7193567b1e9ec1a2f5ac4fc237c5f884cf8")
ML1M_MOVIES = GithubFile(MOVIE_PAGES[0], MOVIE_PAGES[1], "MovieData/movies.dat",
                         "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9")
POSTER_FOLDER = "MovieImages"
RECBOLE_PACKAGE = "recbole"
PLACEHOLDER_TITLES = ("unknown", "unkonwn")  # sic: ML-100K's movie 267
ML100K_MEMBERS = {"inter": "recbole/dataset_example/ml-100k/ml-100k.inter",
                  "item": "recbole/dataset_example/ml-100k/ml-100k.item"}


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
    has_poster = np.zeros(n_items, dtype=bool)
    has_poster[poster_items] = True
    stats["text"] = text_statistics(text, texts, per_item)
    stats["image"] = image_statistics(image, has_poster, per_item)
    by_rule = collections.Counter(rule for _, rule in matches.values())
    stats["posters"] = collections.OrderedDict([
        ("matched", len(matches)),
        ("by_rule", collections.OrderedDict((rule, by_rule[rule]) for rule in MATCH_RULES)),
        ("unmatched", len(unmatched)), ("matched_without_poster", len(no_poster)),
        ("listed_in", "posters_unmatched.tsv")])
    return stats


def fetch_ml100k(mirror, log):
    pinned = read_poster_manifest()
    movies = fetched(ML1M_MOVIES, mirror, log)
    log("checking %d pinned posters" % len(pinned))
    quiet = lambda message: None  # one line per poster would drown the log
    posters = {movie: fetched(poster_file(movie, sha), mirror, quiet)
               for movie, sha in progress(sorted(pinned.items()), len(pinned), "posters",
                                          REPORT_SECONDS)}
    wheel = packages.wheel_path(RECBOLE_PACKAGE, mirror, log=log)
    return {"wheel": wheel, "ml1m_movies": movies, "posters": posters}
