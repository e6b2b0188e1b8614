"""Tests of utility/data/mmrec.py: converting a folder in MMRec's layout, on small synthetic data.

The synthetic folder exercises what the real datasets can hold: a repeated train item, two
test items for one user, a user without train items (MMRec drops its held-out interactions),
an item in no split, float64 image features with one row beyond the items.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from utility.data import mmrec
from utility.common.errors import InputError
from utility.evaluation.evaluator import HeldOut, full_metric_sums
from utility.data.load import load_dataset, without_validation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "userID\titemID\trating\ttimestamp\tx_label\n"
# user, item, x_label (rating and timestamp are filler MMRec does not read)
INTERACTIONS = [
    (0, 2, 0), (0, 0, 0), (0, 2, 0), (0, 4, 1), (0, 1, 2), (0, 3, 2),
    (2, 1, 0), (2, 0, 1), (2, 4, 2),
    (1, 3, 1), (1, 2, 2),   # user 1 has no train interaction
    (3, 6, 0),              # item 5 occurs nowhere, item 6 is the largest id
]
N_ITEMS = 7
OUTPUT_FILES = sorted(["train.txt", "validation.txt", "test.txt", "item2imgfeat.npy",
                       "itemtitle2vec.npy"])
# Hand-derived from INTERACTIONS: users ascending, items in file order.
EXPECTED_TRAIN = "0 2 0 2\n2 1\n3 6\n"
EXPECTED_VALIDATION = "0 4\n2 0\n"
EXPECTED_TEST = "0 1\n0 3\n2 4\n"
EXPECTED_STATS = {
    "users": 4, "items": 7,
    "train": 5, "train_users": 3, "dropped_train": 0,
    "validation": 2, "validation_users": 2, "dropped_validation": 1,
    "test": 3, "test_users": 2, "dropped_test": 1,
    "users_without_train": 1, "held_out_in_train": 0, "repeated_held_out": 0,
    "items_in_no_split": 0,
    "image_dim": 3, "text_dim": 2,
}


def inter_text(rows, separator="\t"):
    lines = [separator.join(str(value) for value in (user, item, 5, 1000 + n, label))
             for n, (user, item, label) in enumerate(rows)]
    return HEADER.replace("\t", separator) + "".join(line + "\n" for line in lines)


def image_features():
    # One row more than there are items: MMRec's extra rows are left out.
    return np.arange((N_ITEMS + 1) * 3, dtype=np.float64).reshape(-1, 3) / 7.0


def text_features():
    return (np.arange(N_ITEMS * 2, dtype=np.float32).reshape(-1, 2) - 5.0) * 0.25


def make_source(folder, text=None, image=None, text_feat=None, name="baby"):
    """An MMRec folder; each part replaceable by a malformed variant."""
    os.makedirs(folder)
    with open(os.path.join(folder, name + ".inter"), "w") as handle:
        handle.write(inter_text(INTERACTIONS) if text is None else text)
    np.save(os.path.join(folder, "image_feat.npy"),
            image_features() if image is None else image)
    np.save(os.path.join(folder, "text_feat.npy"),
            text_features() if text_feat is None else text_feat)
    return folder


def read(path):
    with open(path) as handle:
        return handle.read()


def convert_quietly(source, data_path, name="baby"):
    lines = []
    stats = mmrec.convert(source, name, data_path=data_path, log=lines.append)
    return stats, lines


def test_conversion_output_and_statistics(tmp_path):
    source = make_source(str(tmp_path / "mmrec" / "baby"))
    stats, lines = convert_quietly(source, str(tmp_path / "Data"))
    out = tmp_path / "Data" / "baby"
    assert sorted(os.listdir(str(out))) == OUTPUT_FILES
    assert read(str(out / "train.txt")) == EXPECTED_TRAIN
    assert read(str(out / "validation.txt")) == EXPECTED_VALIDATION
    assert read(str(out / "test.txt")) == EXPECTED_TEST

    image = np.load(str(out / "item2imgfeat.npy"))
    text = np.load(str(out / "itemtitle2vec.npy"))
    assert image.dtype == np.float32 and text.dtype == np.float32
    np.testing.assert_array_equal(image, image_features()[:N_ITEMS].astype(np.float32))
    np.testing.assert_array_equal(text, text_features())

    assert stats == EXPECTED_STATS
    assert lines[0].endswith("has 1 rows beyond the 7 items; they are left out")
    assert lines[1:] == [
        "baby.inter: 4 users, 7 items (largest id + 1, as MMRec counts them)",
        "interactions: train 5 (3 users), validation 2 (2 users), test 3 (2 users)",
        "users without train items: 1 (dropped with them, as MMRec does: 1 validation and "
        "1 test interactions)",
        "features (float32, row i = item i): image 3-d, text 2-d",
    ] + [lines[-1]]
    assert lines[-1].startswith("wrote %s in " % os.path.join(str(tmp_path / "Data"), "baby"))


def test_loader_reads_the_converted_folder(tmp_path):
    source = make_source(str(tmp_path / "src"))
    convert_quietly(source, str(tmp_path / "Data"))
    dataset = load_dataset(str(tmp_path / "Data" / "baby"), ("image", "text"),
                           log=lambda line: None)
    np.testing.assert_array_equal(dataset.features["image"],
                                  image_features()[:N_ITEMS].astype(np.float32))
    np.testing.assert_array_equal(dataset.features["text"], text_features())
    assert (dataset.n_users, dataset.n_items) == (4, N_ITEMS)
    np.testing.assert_array_equal(dataset.train_indptr, [0, 3, 3, 4, 5])
    np.testing.assert_array_equal(dataset.train_items, [2, 0, 2, 1, 6])
    np.testing.assert_array_equal(dataset.valid_pairs, [[0, 4], [2, 0]])
    np.testing.assert_array_equal(dataset.test_pairs, [[0, 1], [0, 3], [2, 4]])
    # --valid removes nothing: MMRec's validation interactions are not in train.
    np.testing.assert_array_equal(without_validation(dataset).train_items, [2, 0, 2, 1, 6])


def test_reordered_header_and_comparability_notes(tmp_path):
    # Columns in another order; a test pair that repeats a train pair, a test pair listed
    # twice, item 8 only in validation, item 10 only in a test line of user 1, who has no
    # train line and is dropped: items 9 and 10 are in no kept interaction.
    rows = ("x_label\titemID\tuserID\n0\t1\t0\n2\t1\t0\n2\t3\t0\n2\t3\t0\n1\t8\t0\n"
            "2\t10\t1\n")
    source = make_source(str(tmp_path / "src"), text=rows,
                         image=np.ones((11, 2)), text_feat=np.ones((11, 1), np.float32))
    stats, lines = convert_quietly(source, str(tmp_path / "Data"), name="other")
    assert (stats["users"], stats["items"]) == (2, 11)
    assert (stats["train"], stats["validation"], stats["test"]) == (1, 1, 3)
    assert stats["held_out_in_train"] == 1
    assert stats["repeated_held_out"] == 1
    assert stats["items_in_no_split"] == 2
    out = tmp_path / "Data" / "other"
    assert read(str(out / "train.txt")) == "0 1\n"
    assert read(str(out / "validation.txt")) == "0 8\n"
    assert read(str(out / "test.txt")) == "0 1\n0 3\n0 3\n"
    assert "note: 1 validation/test interactions repeat a train interaction of the same " \
           "user (docs/mmrec.md: masking)" in lines
    assert "note: 1 validation/test interactions repeat one of their own split " \
           "(docs/mmrec.md: the recall denominator)" in lines
    assert "warning: the largest 2 item ids occur in no kept interaction; the loader counts " \
           "items over the split files and will refuse this folder's features" in lines
    with pytest.raises(InputError) as caught:  # what the warning announces
        load_dataset(str(out), ("image",), log=lambda line: None)
    assert "item2imgfeat.npy" in str(caught.value)
    # Without features the folder loads, item 8 (validation only) counted.
    dataset = load_dataset(str(out), (), log=lambda line: None)
    assert (dataset.n_users, dataset.n_items) == (1, 9)
    np.testing.assert_array_equal(dataset.valid_pairs, [[0, 8]])


def test_reconversion_replaces_files(tmp_path):
    source = make_source(str(tmp_path / "src"))
    data = str(tmp_path / "Data")
    convert_quietly(source, data)
    with open(os.path.join(source, "baby.inter"), "w") as handle:
        handle.write(inter_text([(0, 1, 0), (0, 0, 2)]))
    convert_quietly(source, data)
    out = os.path.join(data, "baby")
    assert read(os.path.join(out, "train.txt")) == "0 1\n"
    assert read(os.path.join(out, "validation.txt")) == ""
    assert read(os.path.join(out, "test.txt")) == "0 0\n"
    assert np.load(os.path.join(out, "item2imgfeat.npy")).shape == (2, 3)
    assert sorted(os.listdir(out)) == OUTPUT_FILES  # no temporary file left over


def malformed_inter(kind):
    good = inter_text(INTERACTIONS)
    lines = good.splitlines(True)
    if kind == "missing column":
        return good.replace("\tx_label", "")
    if kind == "x_label outside 0..2":
        return "".join(lines[:4] + ["0\t4\t5\t1\t3\n"] + lines[5:])
    if kind == "negative x_label":
        return "".join(lines[:5] + ["0\t4\t5\t1\t-1\n"] + lines[6:])
    if kind == "spaces in the header":
        return lines[0].replace("\t", " ") + "".join(lines[1:])
    if kind == "spaces in a line":
        return "".join(lines[:3] + [lines[3].replace("\t", " ")] + lines[4:])
    if kind == "non-integer id":
        return "".join(lines[:6] + ["2\tabc\t5\t1\t0\n"] + lines[7:])
    if kind == "negative id":
        return "".join(lines[:2] + ["-1\t2\t5\t1\t0\n"] + lines[3:])
    if kind == "empty file":
        return ""
    if kind == "header only":
        return HEADER
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, line, words", [
    ("missing column", 1, "lacks x_label"),
    ("x_label outside 0..2", 5, "x_label must be 0 (train), 1 (validation) or 2 (test), got 3"),
    ("negative x_label", 6, "x_label must be 0 (train), 1 (validation) or 2 (test), got -1"),
    ("spaces in the header", 1, "not tab-separated"),
    ("spaces in a line", 4, "fields must be separated by tabs"),
    ("non-integer id", 7, "itemID must be an integer, got 'abc'"),
    ("negative id", 3, "userID must be non-negative, got -1"),
    ("empty file", 1, "empty file"),
    ("header only", 2, "no interactions after the header"),
])
def test_malformed_inter_file(tmp_path, kind, line, words):
    source = make_source(str(tmp_path / "src"), text=malformed_inter(kind))
    data = tmp_path / "Data"
    with pytest.raises(InputError) as caught:
        convert_quietly(source, str(data))
    message = str(caught.value)
    assert message.startswith("%s:%d: " % (os.path.join(source, "baby.inter"), line))
    assert words in message
    assert "\n" not in message
    assert not data.exists()  # checked before anything is written


@pytest.mark.parametrize("file_name, matrix, words", [
    ("image_feat.npy", np.ones((N_ITEMS - 1, 3)), "6 rows, fewer than the 7 items"),
    ("text_feat.npy", np.where(np.arange(N_ITEMS * 2).reshape(-1, 2) == 9, np.nan, 1.0),
     "row 4 (item 4) holds NaN"),
    ("image_feat.npy", np.where(np.arange(N_ITEMS * 3).reshape(-1, 3) == 7, 1e300, 1.0),
     "row 2 (item 2) holds NaN or an infinite value (as float32)"),
    ("image_feat.npy", np.ones(N_ITEMS), "expected a numeric items x features matrix"),
    ("text_feat.npy", np.ones((N_ITEMS, 0)), "expected a numeric items x features matrix"),
    ("image_feat.npy", np.array([["a"] * 3] * N_ITEMS), "shape (7, 3) of <U1"),
])
def test_malformed_features(tmp_path, file_name, matrix, words):
    replaced = {"image": matrix} if file_name == "image_feat.npy" else {"text_feat": matrix}
    source = make_source(str(tmp_path / "src"), **replaced)
    data = tmp_path / "Data"
    with pytest.raises(InputError) as caught:
        convert_quietly(source, str(data))
    message = str(caught.value)
    assert message.startswith(os.path.join(source, file_name) + ": ")
    assert words in message and "\n" not in message
    assert not data.exists()


def test_folder_problems(tmp_path):
    source = make_source(str(tmp_path / "src"))
    data = str(tmp_path / "Data")
    with pytest.raises(InputError, match="source folder .*missing does not exist"):
        convert_quietly(str(tmp_path / "missing"), data)
    os.rename(os.path.join(source, "baby.inter"), os.path.join(source, "a.inter"))
    stats, _ = convert_quietly(source, data, name="other")  # the only .inter file is used
    assert stats == EXPECTED_STATS
    with open(os.path.join(source, "b.inter"), "w") as handle:
        handle.write(HEADER)
    with pytest.raises(InputError, match=r"several \.inter files \(a\.inter, b\.inter\)"):
        convert_quietly(source, data)
    os.remove(os.path.join(source, "text_feat.npy"))
    with pytest.raises(InputError, match="text_feat.npy: file not found"):
        convert_quietly(source, data, name="a")
    assert os.listdir(data) == ["other"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    source = make_source(str(tmp_path / "src"))
    data = tmp_path / "Data"

    def refuse(path, matrix):
        raise InputError("cannot write %s: disk full" % path)
    monkeypatch.setattr(mmrec, "write_float32_npy", refuse)
    with pytest.raises(InputError):
        convert_quietly(source, str(data))
    assert not data.exists()  # the split files written first are gone again, and Data/


def test_cli_converts_and_reports_errors_in_one_line(tmp_path):
    source = make_source(str(tmp_path / "src"))
    command = [sys.executable, "-m", "utility.prepare_data", "mmrec", "--source", source,
               "--name", "baby", "--data_path", str(tmp_path / "Data")]
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert done.returncode == 0, done.stderr
    assert "interactions: train 5 (3 users), validation 2 (2 users), test 3 (2 users)" \
        in done.stdout
    assert read(str(tmp_path / "Data" / "baby" / "train.txt")) == EXPECTED_TRAIN

    failed = subprocess.run(command[:-4] + ["--name", "a/b"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    assert failed.returncode == 2
    assert failed.stderr == "error: --name must be a plain folder name, got 'a/b'\n"


def test_full_ranking_metrics_match_mmrec_definitions():
    """docs/mmrec.md's mapping, on hand-computed numbers: recall divides by the user's
    held-out count, NDCG's ideal DCG runs over min(|T|, K) positions, precision by K."""
    n_items = 10
    top = np.array([[3, 5, 7], [1, 2, 4]])            # each user's ranking, best first
    targets = {0: [5, 9], 1: [1, 4, 6, 8]}            # user 0: hit at rank 2; user 1: 1 and 3
    keys = np.array(sorted(row * n_items + item for row, items in targets.items()
                           for item in items))
    sums = full_metric_sums(top, np.array([2, 4]), keys, n_items, [2, 3])
    d2, d3 = 1 / np.log2(3), 1 / np.log2(4)           # discounts of ranks 2 and 3
    expected = {
        "recall@2": 1 / 2 + 1 / 4, "recall@3": 1 / 2 + 2 / 4,
        "ndcg@2": d2 / (1 + d2) + 1 / (1 + d2),
        "ndcg@3": d2 / (1 + d2) + (1 + d3) / (1 + d2 + d3),
        "precision@2": 1 / 2 + 1 / 2, "precision@3": 1 / 3 + 2 / 3,
        "hit@2": 2, "hit@3": 2,
    }
    assert sorted(sums) == sorted(expected)
    for name, value in expected.items():
        assert sums[name] == pytest.approx(value, abs=1e-12), name


def test_held_out_item_listed_twice_counts_once():
    # MMRec would count both rows in the recall denominator (docs/mmrec.md).
    split = HeldOut("test", np.array([[0, 5], [0, 5], [0, 9]]), np.zeros(0, np.int64), 10)
    counts, keys = split.targets(0, 1)
    assert counts.tolist() == [2] and keys.tolist() == [5, 9]
