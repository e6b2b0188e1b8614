"""``python -m utility.prepare_data own``: your own interactions, titles and pictures as a
dataset folder, checked by hand on tiny files with stand-in encoders (fast, offline)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.data_sources import content_mirror, missing_content_mirror
from tests.test_content_data import FakeText, picture
from tests.test_prepare_data import assert_one_line_error
from utility.common.errors import InputError
from utility.data import content
from utility.data.content import own
from utility.data.features.image import EncodeReport
from utility.data.load import load_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Users u10, u9 (numbered 1, 0: "9" < "10" as numbers), items by string id; the file is out
# of time order on purpose, and u9 rates i-b twice.
INTERACTIONS = """user_id:token\trating\titem_id:token\ttimestamp:float
10\t5\tb\t300
10\t4\ta\t100
10\t3\tc\t200
9\t1\tb\t20
9\t2\tc\t30
9\t2\tb\t10
9\t5\td\t40
"""
TITLES = "a\tAlpha &amp; Omega\nd\tDelta\nz\tnot rated by anyone\nc\t\n"


class FakeImages(object):
    """Stand-in picture encoder: (mean byte, first byte) of each file; missing -> zero row."""

    def encode_files(self, paths, batch_size=32, show_progress=True):
        report, rows = EncodeReport(len(paths)), []
        for row, path in enumerate(paths):
            if os.path.isfile(path):
                data = np.fromfile(path, dtype=np.uint8).astype(np.float32)
                rows.append([data.mean(), data[0]])
            else:
                report.add_missing(row, path)
                rows.append([0.0, 0.0])
        return np.asarray(rows, dtype=np.float32), report


class StandIns(object):
    def __init__(self):
        self.text_encoder = FakeText()

    def text(self):
        return self.text_encoder

    def image(self):
        return FakeImages()


def write(path, text):
    """``text`` (str as UTF-8, or bytes as they are) into ``path``; returns the path."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb") as handle:
        handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def quiet(*args):
    pass


def lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def build(tmp_path, interactions=INTERACTIONS, titles=TITLES, images=True, columns=None,
          log=quiet, encoders=None):
    source = write(tmp_path / "in" / "inter.tsv", interactions)
    titles_path = write(tmp_path / "in" / "titles.tsv", titles) if titles is not None else None
    pictures = None
    if images:
        pictures = str(tmp_path / "in" / "pictures")
        picture(os.path.join(pictures, "b.png"), (10, 20, 30))
        picture(os.path.join(pictures, "d.JPG"), (200, 0, 0), kind="JPEG")
        write(os.path.join(pictures, "x.png"), "an item nobody rated")
        write(os.path.join(pictures, "notes.txt"), "not a picture")
    return own.prepare_own("mine", source, titles_path, pictures, columns,
                           str(tmp_path / "Data"), encoders or StandIns(), log)


def test_a_folder_split_in_time_order_with_maps_titles_and_pictures(tmp_path):
    log = []
    out = build(tmp_path, log=log.append)
    # Users "9" -> 0, "10" -> 1; items a, b, c, d -> 0..3. u9 by time: b(10) b(20) c(30) d(40);
    # u10: a(100) c(200) b(300).
    assert lines(os.path.join(out, "user_map.tsv")) == ["0\t9", "1\t10"]
    assert lines(os.path.join(out, "item_map.tsv")) == ["0\ta", "1\tb", "2\tc", "3\td"]
    assert lines(os.path.join(out, "train.txt")) == ["0 1 1 2", "1 0 2"]
    assert lines(os.path.join(out, "validation.txt")) == ["0 2", "1 2"]
    assert lines(os.path.join(out, "test.txt")) == ["0 3", "1 1"]
    assert lines(os.path.join(out, "items.tsv")) == ["0\tAlpha & Omega", "1\t", "2\t",
                                                     "3\tDelta"]
    text = np.load(os.path.join(out, "itemtitle2vec.npy"))
    assert text.shape == (4, 4) and not text[1].any() and not text[2].any()
    assert text[0].tolist() == FakeText().encode(["Alpha & Omega"], 1, False)[0].tolist()
    image = np.load(os.path.join(out, "item2imgfeat.npy"))
    assert image.dtype == np.float32 and image.shape == (4, 2)
    assert image[1].any() and image[3].any() and not image[0].any() and not image[2].any()

    stats = json.load(open(os.path.join(out, "statistics.json")))
    assert (stats["dataset"], stats["users"], stats["items"], stats["interactions"]) == \
        ("mine", 2, 4, 7)
    assert stats["text"]["items_with_title"] == 2 and stats["text"]["empty_title_items"] == [1, 2]
    assert stats["image"]["items_with_poster"] == 2 and stats["image"]["zero_rows"] == 2
    said = "\n".join(log)
    assert "7 interactions of 2 users on 4 items, ordered by timestamp" in said
    assert "ignored the titles of 1 items not in the interactions: z" in said
    assert "ignored 2 files that are not <item id>.jpg|jpeg|png of an item in the " \
           "interactions: notes.txt, x.png" in said
    assert "4 images, 2 encoded; 2 missing (zero rows)" in said
    assert "--dataset mine --data_path %s --modalities image,text --batch_size 1" % (
        tmp_path / "Data") in said

    dataset = load_dataset(out, ["image", "text"], log=quiet)
    assert (dataset.n_users, dataset.n_items) == (2, 4)


def test_without_a_time_column_file_order_is_time_order_and_ids_sort_as_text(tmp_path):
    interactions = "user,item,rating\nbob,x2,1\nann,x10,1\nbob,x1,1\nann,x2,1\nann,x1,1\n"
    out = build(tmp_path, interactions, titles="x1\tOne\n", images=False,
                columns=("user", "item", "timestamp", False))
    assert lines(os.path.join(out, "user_map.tsv")) == ["0\tann", "1\tbob"]
    assert lines(os.path.join(out, "item_map.tsv")) == ["0\tx1", "1\tx10", "2\tx2"]
    assert lines(os.path.join(out, "train.txt")) == ["0 1 2", "1 2"]  # ann: x10 x2 | x1
    assert lines(os.path.join(out, "test.txt")) == ["0 0", "1 0"]
    assert not os.path.exists(os.path.join(out, "item2imgfeat.npy"))


@pytest.mark.parametrize("interactions, columns, message", [
    ("user_id\titem_id\ttime\n1\t2\t3\n", ("user_id", "item_id", "timestamp", True),
     "inter.tsv:1: no column 'timestamp' in the header (user_id, item_id, time); name the "
     "column with --time_column"),
    ("user\titem_id\n1\t2\n", None, "no column 'user_id' in the header (user, item_id)"),
    ("user_id\titem_id\ttimestamp\n1\t2\t3\n1\t2\tlate\n", None,
     "inter.tsv:3: timestamp must be a number, got 'late'"),
    ("user_id\titem_id\ttimestamp\n1\t2\n", None,
     "inter.tsv:2: expected 3 tab-separated fields as in the header, got 2"),
    ("user_id,item_id\n1,\n", None, "inter.tsv:2: empty user or item id"),
    ("user_id\titem_id\n", None, "inter.tsv: no interactions after the header"),
    ("", None, "inter.tsv:1: expected a header line naming the columns (user_id, item_id, "
               "timestamp)"),
    (b"user_id\titem_id\n1\t\xe9\n", None, "inter.tsv:2: not UTF-8"),
])
def test_bad_interactions_are_one_located_error_and_leave_nothing(tmp_path, interactions,
                                                                   columns, message):
    with pytest.raises(InputError) as caught:
        build(tmp_path, interactions, columns=columns)
    assert message in str(caught.value)
    assert not (tmp_path / "Data").exists()


def test_bad_titles_pictures_and_names_are_errors(tmp_path):
    with pytest.raises(InputError, match=r"titles.tsv:2: item a already has a title \(line 1\)"):
        build(tmp_path / "1", titles="a\tA\na\tAgain\n")
    with pytest.raises(InputError, match=r"titles.tsv:1: expected '<item id><TAB><title>'"):
        build(tmp_path / "2", titles="a Alpha\n")
    (tmp_path / "3" / "in" / "pictures").mkdir(parents=True)
    picture(tmp_path / "3" / "in" / "pictures" / "b.jpg", (1, 2, 3), kind="JPEG")
    with pytest.raises(InputError, match="two pictures for item b: b.jpg and b.png"):
        build(tmp_path / "3")
    for where in ("1", "2", "3"):
        assert not (tmp_path / where / "Data").exists()
    source = write(tmp_path / "inter.tsv", INTERACTIONS)
    with pytest.raises(InputError, match="nothing to encode"):
        own.prepare_own("mine", source, data_path=str(tmp_path / "Data"))
    with pytest.raises(InputError, match="--name must be a folder name"):
        own.prepare_own("../up", source, titles=source, data_path=str(tmp_path / "Data"))
    build(tmp_path / "4")
    with pytest.raises(InputError, match="exists; remove it or choose another --name"):
        build(tmp_path / "4")
    with pytest.raises(InputError, match="--name ml100k is a preset"):
        own.prepare_own("ml100k", source, titles=source, data_path=str(tmp_path / "Data"))
    with pytest.raises(InputError, match="picture folder %s does not exist" % (tmp_path / "no")):
        own.prepare_own("mine", source, images=str(tmp_path / "no"),
                        data_path=str(tmp_path / "Data5"))
    assert not (tmp_path / "Data5").exists()


def test_the_command_line_says_a_bad_input_in_one_line(tmp_path):
    source = write(tmp_path / "inter.tsv", "user_id\titem_id\n1\t2\t3\n")
    result = subprocess.run(
        [sys.executable, "-m", "utility.prepare_data", "own", "--interactions", source,
         "--name", "mine", "--titles", source, "--data_path", str(tmp_path / "Data")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=120)
    assert_one_line_error(result, "inter.tsv:2: expected 2 tab-separated fields")
    assert not (tmp_path / "Data").exists()


@pytest.mark.skipif(content_mirror() is None, reason=missing_content_mirror())
def test_the_pinned_encoders_fill_the_rows_that_have_content(tmp_path):
    out = build(tmp_path, encoders=content.Encoders(content_mirror(), quiet))
    text = np.load(os.path.join(out, "itemtitle2vec.npy"))
    image = np.load(os.path.join(out, "item2imgfeat.npy"))
    assert text.shape == (4, 384) and image.shape == (4, 1280)
    np.testing.assert_allclose(np.linalg.norm(text[[0, 3]], axis=1), 1.0, rtol=1e-5)
    assert not text[[1, 2]].any() and not image[[0, 2]].any()
    assert np.all(np.abs(image[[1, 3]]).sum(axis=1) > 0)


@pytest.mark.parametrize("n_users, flag", [(1, " --batch_size 1"), (60, " --batch_size 16"),
                                           (943, " --batch_size 256"),
                                           (2047, " --batch_size 512"), (2048, "")])
def test_the_suggested_batch_fits_the_users(n_users, flag):
    assert own.batch_flag(n_users) == flag
