"""Tests of the real-content datasets (utility/data/content/) and of ``python -m
utility.features`` (utility/data/features/command.py).

Small fixtures are written here; stand-in encoders (deterministic, numpy only) take the place
of MiniLM and EfficientNet, so every test is fast and offline. Tests on the real sources use
the offline mirror at ``<repo>/../shared/data/content-mirror`` (or $MCLN_DATA_MIRROR) and are
skipped when it is absent.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.data_sources import content_mirror, missing_content_mirror
from tests.local_server import serving
from tests.test_prepare_data import assert_one_line_error
from utility.common.atomic import TEMPORARY_MARK
from utility.common.errors import InputError
from utility.data import content
from utility.data.content import beauty14, ml100k, movie_titles
from utility.data.content.folder import build_in_place, leave_one_out, sweep_stale_builds
from utility.data.features import command
from utility.data.features.image import ImageEncoder
from utility.data.load import load_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EUCERIN = "Eucerin Original Healing Soothing Repair Creme, 16-Ounce Jars (Pack of 2)"


MIRROR = content_mirror()
needs_mirror = pytest.mark.skipif(MIRROR is None, reason=missing_content_mirror())


def mirrored(github_file):
    return os.path.join(MIRROR, github_file.repo, github_file.commit,
                        *github_file.path.split("/"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Downloads and wheels go to a cache of the test's own; the environment's mirror is
    not used unless a test passes it."""
    monkeypatch.setenv("MCLN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MCLN_DATA_MIRROR", raising=False)


class FakeText(object):
    """Stand-in sentence encoder: 4 numbers from the text's bytes; a zero row if empty."""

    def __init__(self):
        self.calls, self.last_empty_count = [], 0

    def encode(self, texts, batch_size, show_progress):
        self.calls.append(list(texts))
        self.last_empty_count = sum(1 for text in texts if not text)
        rows = []
        for text in texts:
            data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.float32)
            rows.append([len(data), data.sum(), data.max(), data.min()] if len(data)
                        else [0.0] * 4)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 4)


class MeanColour(object):
    """Stand-in CNN backend for image.ImageEncoder: the mean colour of each input."""
    name, dimension = "mean_colour", 3

    def features(self, batch):
        return batch.reshape(len(batch), -1, 3).mean(axis=1).astype(np.float32)

    def close(self):
        pass


def fake_image_encoder():
    return ImageEncoder(MeanColour())


class ByteMeans(object):
    """Stand-in for a whole image encoder that reads bytes and decodes nothing (fast on the
    1,665 real posters): the mean, first and last byte of each file."""

    def encode_files(self, paths, batch_size=32, show_progress=True):
        rows = []
        for path in paths:
            data = np.fromfile(path, dtype=np.uint8).astype(np.float32)
            rows.append([data.mean(), data[0], data[-1]])
        report = type("Report", (), {"zero_rows": [], "summary": lambda self: ""})()
        return np.asarray(rows, dtype=np.float32), report


def write(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(str(path), mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
        handle.write(data)
    return str(path)


def picture(path, colour, size=(20, 30), kind="PNG"):
    from PIL import Image
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    Image.new("RGB", size, colour).save(str(path), kind)
    return str(path)


def quiet(_message):
    pass


# ---------------------------------------------------------------------------------------
# Beauty: the title join, the split, the whole build


BEAUTY_JSON = {"B001FB5IIC": 0, "B00KD73PBQ": 1, "B0017TOHFW": 2, "BXEMPTY001": 3}
# Rows deliberately out of id order: the join must use global_product_id, not the row.
BEAUTY_CSV = (",global_product_id,name\n"
              "0,2,\"Versace Bright Crystal, 3 Ounce\"\n"
              "1,0,\"%s\"\n"
              "2,3,\n"
              "3,1,derma e Tea Tree  and  E Antiseptic Cr&egrave;me &#9733;\n" % EUCERIN)
BEAUTY_SEQUENCES = ("u1 B001FB5IIC B00KD73PBQ B0017TOHFW BXEMPTY001\n"
                    "u2 B0017TOHFW B001FB5IIC\n"
                    "u3 B00KD73PBQ B001FB5IIC B0017TOHFW\n")


def beauty_files(folder):
    folder = str(folder)
    return {"sequences": write(os.path.join(folder, "user_sequence.txt"), BEAUTY_SEQUENCES),
            "item_ids": write(os.path.join(folder, "item_id_to_int.json"),
                              json.dumps(BEAUTY_JSON)),
            "titles": write(os.path.join(folder, "products_lookup.csv"), BEAUTY_CSV)}


def test_beauty_title_join_uses_global_product_id(tmp_path):
    paths = beauty_files(tmp_path)
    index = beauty14.read_item_index(paths["item_ids"])
    titles = beauty14.beauty_titles(index, beauty14.read_product_names(paths["titles"]),
                                   paths["titles"])
    assert index["B001FB5IIC"] == 0 and titles[0] == EUCERIN
    assert titles[2] == "Versace Bright Crystal, 3 Ounce"  # CSV row 0, product id 2
    assert titles[1] == "derma e Tea Tree and E Antiseptic Cr\u00e8me \u2605"  # unescaped
    assert titles[3] == ""


@needs_mirror
def test_beauty_title_join_on_the_real_files():
    index = beauty14.read_item_index(mirrored(beauty14.BEAUTY_SOURCES["item_ids"]))
    names_path = mirrored(beauty14.BEAUTY_SOURCES["titles"])
    titles = beauty14.beauty_titles(index, beauty14.read_product_names(names_path), names_path)
    assert len(titles) == 12101 and index["B001FB5IIC"] == 0
    assert titles[index["B001FB5IIC"]] == EUCERIN
    assert sum(1 for title in titles if not title) == 7
    assert not any("&#" in title or "&egrave;" in title for title in titles)


@pytest.mark.parametrize("csv_text, message", [
    (",global_product_id,name\n0,1,a\n1,1,b\n", "products_lookup.csv:3: global_product_id 1 "
                                                "already has a row (line 2)"),
    (",global_product_id,name\n0,x,a\n", "products_lookup.csv:2: expected"),
    ("id,name\n0,a\n", "products_lookup.csv:1: expected the header"),
])
def test_bad_title_csv_is_one_located_error(tmp_path, csv_text, message):
    path = write(tmp_path / "products_lookup.csv", csv_text)
    with pytest.raises(InputError) as error:
        beauty14.read_product_names(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_item_index(tmp_path):
    path = write(tmp_path / "ids.json", json.dumps({"A": 0, "B": 0}))
    with pytest.raises(InputError, match="ids.json: the ids are not exactly 0..1"):
        beauty14.read_item_index(path)
    path = write(tmp_path / "ids2.json", "{not json")
    with pytest.raises(InputError, match="ids2.json: not a valid JSON file"):
        beauty14.read_item_index(path)


def test_leave_one_out_by_position():
    train, validation, test = leave_one_out([[5, 6, 7, 8], [1, 2], [9], [3, 4, 3]])
    # The validation item stays in train (as in the release's splits; --valid removes it).
    assert train == [[5, 6, 7], [1], [9], [3, 4]]
    assert validation == [(0, 7), (3, 4)]
    assert test == [(0, 8), (1, 2), (3, 3)]


def test_time_order_breaks_ties_by_item_id():
    ratings = [(7, 30, 5.0), (7, 10, 5.0), (7, 20, 1.0), (2, 99, 3.0), (2, 50, 4.0)]
    users, items, sequences = ml100k.time_ordered(ratings)
    assert users == [2, 7] and items == [10, 20, 30, 50, 99]
    assert sequences == [[99, 50], [20, 10, 30]]


def github_mirror(folder, files):
    """Lay ``{GithubFile: bytes}`` out as a mirror; return pinned copies with real hashes."""
    pinned = {}
    for key, (source, data) in files.items():
        write(os.path.join(str(folder), source.repo, source.commit, *source.path.split("/")),
              data)
        pinned[key] = source._replace(sha256=hashlib.sha256(data).hexdigest())
    return pinned


def fixture_beauty_mirror(folder, monkeypatch):
    data = {"sequences": BEAUTY_SEQUENCES.encode(), "item_ids": json.dumps(BEAUTY_JSON).encode(),
            "titles": BEAUTY_CSV.encode()}
    pinned = github_mirror(folder, {key: (beauty14.BEAUTY_SOURCES[key], data[key])
                                    for key in data})
    monkeypatch.setattr(beauty14, "BEAUTY_SOURCES", pinned)


def test_beauty14_build_from_a_fixture_mirror(tmp_path, monkeypatch):
    fixture_beauty_mirror(tmp_path / "mirror", monkeypatch)
    lines, encoder = [], FakeText()
    out = content.prepare_content("beauty14", str(tmp_path / "Data"), str(tmp_path / "mirror"),
                                  log=lines.append, text_encoder=encoder)
    assert sorted(os.listdir(str(tmp_path / "Data"))) == ["beauty14"]
    stats = json.load(open(os.path.join(out, "statistics.json")))
    assert (stats["users"], stats["items"], stats["interactions"]) == (3, 4, 9)
    assert (stats["train_entries"], stats["validation"], stats["test"]) == (6, 2, 3)
    assert stats["density"] == pytest.approx(9 / 12.0)
    # Item 3 (empty title) has 1 of the 9 interactions.
    assert stats["text"]["items_with_title"] == 3 and stats["text"]["empty_titles"] == 1
    assert stats["text"]["interactions_covered_pct"] == pytest.approx(100 * 8 / 9.0, abs=0.01)
    assert stats["text"]["empty_title_items"] == [3]
    assert any("3 users, 4 items, 9 interactions" in line for line in lines)
    assert open(os.path.join(out, "train.txt")).read() == "0 0 1 2\n1 2\n2 1 0\n"
    assert open(os.path.join(out, "validation.txt")).read() == "0 2\n2 0\n"
    assert open(os.path.join(out, "test.txt")).read() == "0 3\n1 0\n2 2\n"
    assert open(os.path.join(out, "item_map.tsv")).read().split("\n")[0] == "0\tB001FB5IIC"
    assert open(os.path.join(out, "user_map.tsv")).read() == "0\tu1\n1\tu2\n2\tu3\n"
    # The text features are the encoder's rows for the joined titles, row i = item i.
    titles = [line.split("\t", 1)[1] for line in
              open(os.path.join(out, "items.tsv"), encoding="utf-8").read().splitlines()]
    assert titles[0] == EUCERIN and encoder.calls == [titles]
    dataset = load_dataset(out, ["text"], log=quiet)
    assert (dataset.n_users, dataset.n_items) == (3, 4)
    np.testing.assert_array_equal(dataset.features["text"], FakeText().encode(titles, 1, False))
    # A second call keeps the complete folder.
    again = []
    content.prepare_content("beauty14", str(tmp_path / "Data"), str(tmp_path / "mirror"),
                            log=again.append, text_encoder=encoder)
    assert len(encoder.calls) == 1 and "already prepared" in again[-1]


def run_prepare_cli(args, tmp_path):
    env = dict(os.environ, MCLN_CACHE=str(tmp_path / "cache"))
    env.pop("MCLN_DATA_MIRROR", None)
    return subprocess.run([sys.executable, "-m", "utility.prepare_data"] + args
                          + ["--data_path", str(tmp_path / "Data")],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)


def test_changed_source_is_one_line_and_leaves_no_folder(tmp_path):
    """The real pinned hashes against a mirror whose interactions file differs."""
    mirror = tmp_path / "mirror"
    for key, source in beauty14.BEAUTY_SOURCES.items():
        write(os.path.join(str(mirror), source.repo, source.commit, *source.path.split("/")),
              b"changed\n")
    result = run_prepare_cli(["beauty14", "--mirror", str(mirror)], tmp_path)
    assert_one_line_error(result, "SHA-256 mismatch", "user_sequence.txt",
                          beauty14.BEAUTY_SOURCES["sequences"].sha256)
    assert not (tmp_path / "Data").exists()


@pytest.mark.parametrize("name, missing", [("beauty14", "user_sequence.txt"),
                                           ("ml100k", "movies.dat")])
def test_missing_source_names_the_file(tmp_path, name, missing):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    result = run_prepare_cli([name, "--mirror", str(mirror)], tmp_path)
    assert_one_line_error(result, "cannot read", str(mirror), missing)
    assert not (tmp_path / "Data").exists()


def test_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    fixture_beauty_mirror(tmp_path / "mirror", monkeypatch)

    class Broken(object):
        def encode(self, texts, batch_size, show_progress):
            raise InputError("encoder broke")

    with pytest.raises(InputError, match="encoder broke"):
        content.prepare_content("beauty14", str(tmp_path / "Data"), str(tmp_path / "mirror"),
                                log=quiet, text_encoder=Broken())
    assert not (tmp_path / "Data").exists()


def test_url_mirror_downloads_once_into_the_cache(tmp_path, monkeypatch):
    fixture_beauty_mirror(tmp_path / "mirror", monkeypatch)
    with serving(tmp_path / "mirror") as url:
        lines = []
        out = content.prepare_content("beauty14", str(tmp_path / "Data"), url,
                                      log=lines.append, text_encoder=FakeText())
    assert sum(line.startswith("fetching http://127.0.0.1") for line in lines) == 3
    source = beauty14.BEAUTY_SOURCES["sequences"]
    cached = os.path.join(str(tmp_path / "cache" / "sources"), source.repo, source.commit,
                          *source.path.split("/"))
    assert open(cached).read() == BEAUTY_SEQUENCES
    # With the server gone, a second build takes every file from the verified cache.
    shutil.rmtree(out)
    lines = []
    content.prepare_content("beauty14", str(tmp_path / "Data"), url, log=lines.append,
                            text_encoder=FakeText())
    assert not any(line.startswith("fetching") for line in lines)
    assert os.path.isfile(os.path.join(out, "statistics.json"))


def test_a_killed_build_is_swept(tmp_path):
    stale = tmp_path / ("beauty14%s999999999-abcd1234" % TEMPORARY_MARK)
    stale.mkdir()
    write(stale / "train.txt", "0 1\n")
    sweep_stale_builds(str(tmp_path / "beauty14"))
    assert not stale.exists()


def test_incomplete_folder_is_refused(tmp_path):
    (tmp_path / "Data" / "beauty14").mkdir(parents=True)
    with pytest.raises(InputError, match="exists but is not a complete dataset"):
        content.prepare_content("beauty14", str(tmp_path / "Data"), str(tmp_path), log=quiet)


# ---------------------------------------------------------------------------------------
# MovieLens: the poster matcher, the whole build


@pytest.mark.parametrize("title, year, expected_title, rule", [
    ("Toy Story", "1995", "Toy Story (1995)", "exact"),
    ("Godfather, The", "1972", "The Godfather (1972)", "normalised"),
    ("Alien 3", "1992", "Alien\u00b3 (1992)", "normalised"),
    ("Boy's Life 2", "1997", "Boys Life 2 (1997)", "normalised"),
    ("Postino, Il", "1994", "Postino, Il (The Postman) (1994)", "normalised"),
    ("Ma vie en rose (My Life in Pink)", "1997", "My Life in Pink (Ma vie en rose) (1997)",
     "alternative title"),
    ("Hard Eight", "1996", "Hard 8 (a.k.a. Sydney, a.k.a. Hard Eight) (1996)",
     "alternative title"),
    ("Star Wars", "1977", "Star Wars: Episode IV - A New Hope (1977)", "title segment"),
    ("Empire Strikes Back, The", "1980", "Star Wars: Episode V - The Empire Strikes Back "
                                         "(1980)", "title segment"),
    ("Howling, The", "1981", "Howling, The (1980)", "year +-1"),
])
def test_poster_matcher_hand_cases(tmp_path, title, year, expected_title, rule):
    lines = ["1::%s::Drama" % expected_title, "2::Toy Story (1996)::Comedy",
             "3::Godfather: Part II, The (1974)::Drama", "4::Star Wars (1978)::Sci-Fi"]
    path = write(tmp_path / "movies.dat", ("\n".join(lines) + "\n").encode("iso-8859-1"))
    matches, unmatched = movie_titles.match_movies({7: (title, year, [])},
                                              movie_titles.read_ml1m_movies(path))
    assert matches == {7: (1, rule)} and unmatched == {}


def test_poster_matcher_refuses_guesses(tmp_path):
    lines = ["1::Drunks (1997)::Drama", "2::Twins (1988)::Comedy", "3::Twins, The (1988)::Drama",
             "4::Children of the Corn IV: The Gathering (1996)::Horror"]
    path = write(tmp_path / "movies.dat", "\n".join(lines) + "\n")
    movies = {1: ("Drunks", "1995", []), 2: ("Twins", "1988", []), 3: ("unkonwn", "", []),
              4: ("Children of the Corn: The Gathering", "1996", [])}
    matches, unmatched = movie_titles.match_movies(movies, movie_titles.read_ml1m_movies(path))
    assert matches == {2: (2, "exact")}  # the exact title wins before "The Twins" competes
    assert unmatched[1] == "no MovieLens-1M title matches"  # two years apart
    assert unmatched[3] == "no title or year"
    assert unmatched[4] == "no MovieLens-1M title matches"


def test_poster_matcher_ambiguity_is_unmatched(tmp_path):
    path = write(tmp_path / "movies.dat", "1::Twins, The (1988)::Drama\n"
                                          "2::The Twins (1988)::Comedy\n"
                                          "3::Twins, The (1989)::Comedy\n")
    matches, unmatched = movie_titles.match_movies({5: ("THE TWINS!", "1988", []),
                                               6: ("The Twins", "1989", [])},
                                              movie_titles.read_ml1m_movies(path))
    assert unmatched[5] == "ambiguous (normalised): 1M movies 1, 2"
    assert matches == {6: (3, "normalised")}


def test_bad_movies_line_is_located(tmp_path):
    path = write(tmp_path / "movies.dat", "1::Toy Story (1995)::Comedy\n2::No year::Drama\n")
    with pytest.raises(InputError, match=r"movies.dat:2: expected 'movieId::Title \(Year\)"):
        movie_titles.read_ml1m_movies(path)


@needs_mirror
def test_poster_match_rate_and_manifest_on_the_real_files():
    wheel = os.path.join(MIRROR, "packages", "recbole-1.2.1-py3-none-any.whl")
    ratings, movies = ml100k.read_ml100k(wheel)
    assert len(ratings) == 100000 and len(movies) == 1682
    matches, unmatched = movie_titles.match_movies(
        movies, movie_titles.read_ml1m_movies(mirrored(ml100k.ML1M_MOVIES)))
    assert len(matches) >= 1640 and len(matches) + len(unmatched) == 1682
    assert matches[50] == (260, "title segment")  # Star Wars (1977)
    # The committed manifest is exactly what the matcher and the mirror give today.
    folder = os.path.dirname(mirrored(ml100k.poster_file(1, "")))
    expected = ml100k.poster_manifest([movie for movie, _ in matches.values()], folder)
    with open(ml100k.POSTER_MANIFEST) as handle:
        assert handle.read() == expected


def fake_recbole_wheel(path, inter_rows, item_rows):
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr(ml100k.ML100K_MEMBERS["inter"],
                         "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                         + "".join("%d\t%d\t%d\t%d\n" % row for row in inter_rows))
        archive.writestr(ml100k.ML100K_MEMBERS["item"],
                         "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                         "class:token_seq\n" + "".join("%d\t%s\t%s\t%s\n" % row
                                                       for row in item_rows))
    return str(path)


def test_ml100k_build_from_fixtures(tmp_path):
    inter = [(1, 1, 5, 100), (1, 2, 4, 300), (1, 3, 3, 200), (1, 4, 3, 300),  # a tie at 300
             (2, 2, 1, 50), (2, 1, 2, 60), (2, 3, 2, 70),
             (3, 4, 5, 10), (3, 1, 5, 20), (3, 2, 5, 30)]
    items = [(1, "Godfather, The", "1972", "Crime Drama"),
             (2, "Toy Story", "1995", "Animation Comedy"),
             (3, "unkonwn", "unkonwn", "unknown"),
             (4, "Land Before Time III: The Time of the Great Giving (1995)", "V", "Animation")]
    wheel = fake_recbole_wheel(tmp_path / "recbole.whl", inter, items)
    movies = write(tmp_path / "movies.dat", "10::Godfather, The (1972)::Crime|Drama\n"
                                            "20::Toy Story (1995)::Animation\n"
                                            "30::Land Before Time III: The Time of the Great "
                                            "Giving (1995)::Animation\n")
    posters = {10: picture(tmp_path / "posters" / "10.jpg", (200, 0, 0), kind="JPEG"),
               20: picture(tmp_path / "posters" / "20.jpg", (0, 0, 250), kind="JPEG")}
    text = FakeText()
    out = str(tmp_path / "ml100k")
    stats = build_in_place(out, lambda work: ml100k.build_ml100k(
        work, wheel, movies, posters, text, fake_image_encoder(), quiet))
    # Users by id; each user's items by timestamp, ties by item id (user 1: 1, 3, 2, 4).
    assert open(os.path.join(out, "train.txt")).read() == "0 0 2 1\n1 1 0\n2 3 0\n"
    assert open(os.path.join(out, "validation.txt")).read() == "0 1\n1 0\n2 0\n"
    assert open(os.path.join(out, "test.txt")).read() == "0 3\n1 2\n2 1\n"
    assert (stats["users"], stats["items"], stats["interactions"]) == (3, 4, 10)
    assert stats["posters"]["matched"] == 3 and stats["posters"]["unmatched"] == 1
    assert stats["posters"]["matched_without_poster"] == 1
    assert stats["posters"]["by_rule"]["exact"] == 3
    # Item 3 (Land Before Time) matched, but 1M movie 30 has no pinned poster: zero row.
    assert stats["image"]["items_with_poster"] == 2 and stats["image"]["zero_rows"] == 2
    assert stats["image"]["interactions_covered_pct"] == pytest.approx(60.0)  # 6 of 10
    assert stats["text"]["empty_titles"] == 1 and stats["text"]["empty_title_items"] == [2]
    unmatched = open(os.path.join(out, "posters_unmatched.tsv")).read().splitlines()
    assert unmatched == ["2\t3\t\t\tno title or year",
                         "3\t4\tLand Before Time III: The Time of the Great Giving\t1995\t"
                         "matched 1M movie 30 (exact) has no poster"]
    texts = open(os.path.join(out, "items.tsv")).read().splitlines()
    assert texts[0] == "0\tThe Godfather (1972). Genres: Crime, Drama."
    assert texts[2] == "2\t"
    dataset = load_dataset(out, ["image", "text"], log=quiet)
    image = dataset.features["image"]
    assert image.shape == (4, 3)
    np.testing.assert_allclose(image[0], [200, 0, 0], atol=2)
    np.testing.assert_allclose(image[1], [0, 0, 250], atol=2)
    assert not image[2:].any()


@needs_mirror
def test_full_sources_with_stand_in_encoders(tmp_path):
    """Both real datasets end to end from the mirror, encoders replaced by stand-ins."""
    data = str(tmp_path / "Data")
    out = content.prepare_content("beauty14", data, MIRROR, log=quiet, text_encoder=FakeText())
    stats = json.load(open(os.path.join(out, "statistics.json")))
    assert (stats["users"], stats["items"], stats["interactions"]) == (22363, 12101, 198502)
    assert (stats["validation"], stats["test"]) == (22363, 22363)
    assert stats["text"]["empty_titles"] == 7
    out = content.prepare_content("ml100k", data, MIRROR, log=quiet, text_encoder=FakeText(),
                                  image_encoder=ByteMeans())
    stats = json.load(open(os.path.join(out, "statistics.json")))
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1682, 100000)
    assert stats["posters"]["matched"] >= 1640
    assert stats["image"]["items_with_poster"] >= 1640
    assert stats["image"]["interactions_covered_pct"] > 97.0
    dataset = load_dataset(out, ["image", "text"], log=quiet)
    assert dataset.features["image"].shape == (1682, 3)


# ---------------------------------------------------------------------------------------
# python -m utility.features


def run_features(args, monkeypatch, text=None, image=None):
    lines = []
    monkeypatch.setattr(command, "load_text_encoder", lambda *a, **k: text or FakeText())
    monkeypatch.setattr(command, "load_image_encoder",
                        lambda *a, **k: image or fake_image_encoder())
    command.main(args, log=lines.append)
    return lines


def test_text_command_rows_follow_ids(tmp_path, monkeypatch):
    items = write(tmp_path / "items.tsv", "2\tthird\n0\tfirst &amp;  one\n\n1\n")
    out = str(tmp_path / "title.npy")
    lines = run_features(["text", "--items", items, "--out", out], monkeypatch)
    matrix = np.load(out)
    np.testing.assert_array_equal(matrix, FakeText().encode(["first & one", "", "third"],
                                                            1, False))
    assert matrix.dtype == np.float32 and "1 empty titles" in lines[-1]


@pytest.mark.parametrize("text, message", [
    ("0\ta\nx\tb\n", "items.tsv:2: expected '<id><TAB><title>'"),
    ("0\ta\n1\tb\n0\tc\n", "items.tsv:3: item 0 already has a title (line 1)"),
    ("0\ta\n3\tb\n", "items.tsv: ids must be 0..3, each once; 2 missing: 1, 2"),
    (b"0\ta\n1\t\xff\n", "items.tsv:2: not UTF-8"),
])
def test_text_command_bad_items(tmp_path, monkeypatch, text, message):
    items = write(tmp_path / "items.tsv", text)
    with pytest.raises(InputError) as error:
        run_features(["text", "--items", items, "--out", str(tmp_path / "t.npy")], monkeypatch)
    assert message in str(error.value)
    assert not (tmp_path / "t.npy").exists()


def test_image_command_reports_missing_and_corrupt(tmp_path, monkeypatch):
    folder = tmp_path / "pictures"
    picture(folder / "0.png", (10, 20, 30))
    picture(folder / "3.JPG", (90, 90, 90), kind="JPEG")
    write(folder / "2.jpg", b"\xff\xd8 not really a jpeg")
    write(folder / "notes.txt", "ignored")
    out = str(tmp_path / "image.npy")
    lines = run_features(["image", "--images", str(folder), "--out", out, "--n_items", "5"],
                         monkeypatch)
    matrix = np.load(out)
    assert matrix.shape == (5, 3)
    np.testing.assert_allclose(matrix[0], [10, 20, 30], atol=1)
    np.testing.assert_allclose(matrix[3], [90, 90, 90], atol=2)
    assert not matrix[[1, 2, 4]].any()
    report = lines[-1]
    assert "5 images, 2 encoded" in report
    assert "2 missing (zero rows)" in report and "1.jpg" in report and "4.jpg" in report
    assert "1 unreadable (zero rows)" in report and "2.jpg" in report
    assert "ignored 1 files" in lines[0] and "notes.txt" in lines[0]


def test_image_command_bad_folders(tmp_path, monkeypatch):
    folder = tmp_path / "pictures"
    picture(folder / "3.jpg", (1, 2, 3), kind="JPEG")
    picture(folder / "3.png", (1, 2, 3))
    args = ["image", "--images", str(folder), "--out", str(tmp_path / "x.npy")]
    with pytest.raises(InputError, match="two pictures for item 3: 3.jpg and 3.png"):
        run_features(args, monkeypatch)
    os.remove(str(folder / "3.png"))
    with pytest.raises(InputError, match="3.jpg is beyond --n_items 2"):
        run_features(args + ["--n_items", "2"], monkeypatch)
    with pytest.raises(InputError, match="does not exist"):
        run_features(["image", "--images", str(tmp_path / "nowhere"), "--out", "x.npy"],
                     monkeypatch)


def test_features_cli_errors_are_one_line(tmp_path):
    items = write(tmp_path / "items.tsv", "0\ta\n0\tb\n")
    result = subprocess.run([sys.executable, "-m", "utility.features", "text", "--items", items,
                             "--out", str(tmp_path / "t.npy")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    assert_one_line_error(result, "items.tsv:2: item 0 already has a title (line 1)")
    result = subprocess.run([sys.executable, "-m", "utility.features", "sound"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    assert_one_line_error(result, "sound")
