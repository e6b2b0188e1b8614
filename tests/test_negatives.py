"""--negatives release|clean on a hand-made five-item catalogue.

User 0 trained on items 0, 1, 2 and holds out item 3; user 1 trained on 4 and 0 and holds
out 1. Under ``release`` a user's negatives come from the items outside its train list
(user 0: {3, 4}), so 99 draws include its held-out item 3; under ``clean`` from those
outside its train list and held-out item (user 0: only {4}).
"""
import types

import numpy as np
import pytest

from utility.common.errors import InputError
from utility.evaluation.evaluator import (EVAL_NEGATIVES, Evaluator, HeldOut, negatives_mode,
                                read_test_negatives, sample_test_negatives)
from utility.data.load import Dataset

TRAIN = {0: [0, 1, 2], 1: [4, 0]}
HELD_OUT = {0: 3, 1: 1}
ALLOWED = {"release": {0: {3, 4}, 1: {1, 2, 3}}, "clean": {0: {4}, 1: {2, 3}}}


def tiny_dataset():
    items = [item for user in sorted(TRAIN) for item in TRAIN[user]]
    indptr = np.cumsum([0] + [len(TRAIN[user]) for user in sorted(TRAIN)])
    test = np.array(sorted(HELD_OUT.items()), dtype=np.int64)
    return Dataset("train.txt", 2, 5, indptr, np.array(items, dtype=np.int64), test,
                   np.zeros((0, 2), np.int64), {})


def arguments(**overrides):
    values = dict(Ks=[5], eval_users_per_call=8, eval_protocol="sampled", valid=False,
                  seed=3, test_negatives=None, save_test_negatives=None)
    values.update(overrides)
    return types.SimpleNamespace(**values)


def test_default_mode_follows_valid_unless_given():
    assert negatives_mode(types.SimpleNamespace(valid=False)) == "release"
    assert negatives_mode(types.SimpleNamespace(valid=True)) == "clean"
    assert negatives_mode(types.SimpleNamespace(valid=False, negatives=None)) == "release"
    assert negatives_mode(types.SimpleNamespace(valid=True, negatives="release")) == "release"
    assert negatives_mode(types.SimpleNamespace(valid=False, negatives="clean")) == "clean"
    with pytest.raises(ValueError, match="negatives must be one of"):
        HeldOut.test_split_of(tiny_dataset(), "Release")


@pytest.mark.parametrize("mode", ["release", "clean"])
def test_drawn_negatives_of_each_mode(mode):
    dataset = tiny_dataset()
    split = HeldOut.test_split_of(dataset, mode)
    users = np.array([0, 1])
    negatives = sample_test_negatives(np.random.RandomState(0), split, users)
    assert negatives.shape == (2, EVAL_NEGATIVES)
    for user, row in zip(users, negatives):
        assert set(row) == ALLOWED[mode][user]  # 99 draws from 1 to 3 items hit them all
    # The Evaluator draws the same way, seeded, with the mode --valid implies.
    evaluator = Evaluator(arguments(negatives=None if mode == "release" else mode), dataset)
    eval_users, candidates = evaluator.candidates["test"]
    assert eval_users.tolist() == [0, 1] and candidates[:, -1].tolist() == [3, 1]
    copies = (candidates[:, :-1] == candidates[:, -1:]).sum(axis=1)
    assert (copies > 0).all() if mode == "release" else (copies == 0).all()
    again = Evaluator(arguments(negatives=None if mode == "release" else mode), dataset)
    np.testing.assert_array_equal(again.candidates["test"][1], candidates)


def write_negatives(path, rows):
    with open(path, "w") as handle:
        for user, row in rows.items():
            handle.write("%d %s\n" % (user, " ".join(map(str, row))))
    return path


def test_negatives_file_with_the_held_out_item(tmp_path):
    dataset = tiny_dataset()
    users = np.array([0, 1])
    rows = {0: [4] * 98 + [3], 1: [2, 3] * 49 + [1]}  # each ends with its held-out item
    path = write_negatives(str(tmp_path / "negatives.txt"), rows)
    release = HeldOut.test_split_of(dataset, "release")
    np.testing.assert_array_equal(read_test_negatives(path, release, users),
                                  np.array([rows[0], rows[1]]))
    with pytest.raises(InputError) as caught:
        read_test_negatives(path, HeldOut.test_split_of(dataset, "clean"), users)
    assert str(caught.value) == ("%s:1: a negative is a known or held-out item of user 0 "
                                 "(--negatives clean)" % path)
    # Through the Evaluator: accepted by default (no --valid), refused under clean.
    evaluator = Evaluator(arguments(test_negatives=path), dataset)
    assert evaluator.candidates["test"][1][:, -1].tolist() == [3, 1]
    with pytest.raises(InputError, match="negatives.txt:1: a negative is a known or held-out"):
        Evaluator(arguments(test_negatives=path, negatives="clean"), dataset)


@pytest.mark.parametrize("mode", ["release", "clean"])
def test_negatives_file_errors_in_both_modes(tmp_path, mode):
    split = HeldOut.test_split_of(tiny_dataset(), mode)
    users = np.array([0, 1])
    good = {0: [4] * 99, 1: [2] * 99}
    cases = [({0: [4] * 98 + [0], 1: good[1]},
              ":1: a negative is a %s item of user 0 (--negatives %s)"
              % ("known" if mode == "release" else "known or held-out", mode)),
             ({0: [4] * 98, 1: good[1]}, ":1: expected a user id and 99 negatives, got 99 ids"),
             ({0: [4] * 98 + [5], 1: good[1]}, ":1: item id out of range 0..4"),
             ({0: good[0]}, ": no negatives for test user 1 (and 0 more)")]
    for rows, fragment in cases:
        path = write_negatives(str(tmp_path / "bad.txt"), rows)
        with pytest.raises(InputError) as caught:
            read_test_negatives(path, split, users)
        assert str(caught.value) == path + fragment
    path = str(tmp_path / "bad.txt")
    with open(path, "w") as handle:
        handle.write("0 %s\n1 %s\n0 %s\n" % tuple(" ".join([item] * 99) for item in "424"))
    with pytest.raises(InputError, match="bad.txt:3: user 0 already has a line"):
        read_test_negatives(path, split, users)
    with open(path, "w") as handle:
        handle.write("0 4 x\n")
    with pytest.raises(InputError, match="bad.txt:1: ids must be integers, got 'x' at column 5"):
        read_test_negatives(path, split, users)
    with pytest.raises(InputError, match="missing.txt: cannot open"):
        read_test_negatives(str(tmp_path / "missing.txt"), split, users)
