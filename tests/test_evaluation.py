"""Batched evaluation equals one user at a time; test-negative files round-trip."""
import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset
from utility.common.errors import InputError
from utility.evaluation.evaluator import (HeldOut, evaluate, first_items, read_test_negatives,
                                sample_test_negatives, write_test_negatives)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder, _ = random_dataset(str(tmp_path_factory.mktemp("eval")), n_users=30, n_items=120)
    return Built(folder, hyperparameters(n_mca=2))


def candidates_of(dataset, seed=0, negatives="clean"):
    split = HeldOut.test_split_of(dataset, negatives)
    users, held_out = first_items(split.pairs)
    negatives = sample_test_negatives(np.random.RandomState(seed), split, users)
    return users, held_out, negatives, np.concatenate([negatives, held_out[:, None]], axis=1)


def test_batched_equals_one_user_at_a_time(built):
    # The release's negatives: on 120 items some users draw their held-out item, whose
    # copy then ranks ahead of it however the batching rounds the two scores.
    users, _, _, candidates = candidates_of(built.dataset, negatives="release")
    copies = (candidates[:, :-1] == candidates[:, -1:]).sum(axis=1)
    assert copies.max() > 0
    one_by_one = np.stack([built.eval_scores([u], [c])[0] for u, c in zip(users, candidates)])
    np.testing.assert_allclose(built.eval_scores(users, candidates), one_by_one,
                               rtol=1e-5, atol=1e-6)
    Ks = [5, 10, 20]
    single = evaluate(built.session, built.model, users, candidates, Ks, 1)
    for per_call in (7, 64):
        assert evaluate(built.session, built.model, users, candidates, Ks, per_call) == single
    ahead = (one_by_one[:, :-1] >= one_by_one[:, -1:]) | (candidates[:, :-1] == candidates[:, -1:])
    assert single["hit@10"] == pytest.approx(np.mean(ahead.sum(axis=1) < 10))


def test_clean_negatives_exclude_train_and_test_items(built):
    dataset = built.dataset
    users, held_out, negatives, _ = candidates_of(dataset)
    assert negatives.shape == (len(users), 99)
    for user, item, row in zip(users, held_out, negatives):
        train = set(dataset.train_items[dataset.train_indptr[user]:dataset.train_indptr[user + 1]])
        assert item not in row and not train.intersection(row)
    again = candidates_of(dataset)[2]
    np.testing.assert_array_equal(negatives, again)  # seeded: the same at every evaluation


def test_negatives_file_round_trip_and_errors(built, tmp_path):
    dataset = built.dataset
    users, held_out, negatives, _ = candidates_of(dataset, seed=4)
    split = HeldOut.test_split_of(dataset, "clean")
    path = str(tmp_path / "negatives.txt")
    write_test_negatives(path, users, negatives)
    np.testing.assert_array_equal(read_test_negatives(path, split, users), negatives)
    lines = open(path).read().splitlines()
    bad = str(tmp_path / "bad.txt")
    with open(bad, "w") as handle:
        handle.write("\n".join(lines[:2] + ["%d %d" % (users[2], held_out[2])] + lines[3:]))
    with pytest.raises(InputError, match="bad.txt:3: expected a user id and 99 negatives"):
        read_test_negatives(bad, split, users)
    with open(bad, "w") as handle:
        handle.write("\n".join(lines[1:]))
    with pytest.raises(InputError, match="no negatives for test user %d" % users[0]):
        read_test_negatives(bad, split, users)
    row = [users[0]] + [held_out[0]] * 99
    with open(bad, "w") as handle:
        handle.write("\n".join([" ".join(map(str, row))] + lines[1:]))
    with pytest.raises(InputError, match="bad.txt:1: a negative is a known or held-out item"):
        read_test_negatives(bad, split, users)
    release = HeldOut.test_split_of(dataset, "release")  # the release's draws allow it
    assert (read_test_negatives(bad, release, users)[0] == held_out[0]).all()
