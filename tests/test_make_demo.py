"""The synthetic demo dataset: deterministic, in the official format, and learnable."""
import os

import numpy as np
import pytest

from utility.common.errors import InputError
from utility.data.demo import IMAGE_DIM, TEXT_DIM, make_demo

N_USERS, N_ITEMS = 600, 400  # small enough to generate and evaluate in well under a second
DATA_FILES = ["train.txt", "test.txt", "validation.txt", "item2imgfeat.txt", "itemtitle2vec.txt"]


def quiet(_message):
    pass


def generate(out_dir, seed=0):
    make_demo(str(out_dir), seed=seed, n_users=N_USERS, n_items=N_ITEMS, log=quiet)
    return str(out_dir)


def read_bytes(folder):
    contents = {}
    for name in DATA_FILES:
        with open(os.path.join(folder, name), "rb") as handle:
            contents[name] = handle.read()
    return contents


def read_rows(path):
    with open(path) as handle:
        return [line.split() for line in handle]


def read_train(folder):
    rows = read_rows(os.path.join(folder, "train.txt"))
    return {int(row[0]): [int(item) for item in row[1:]] for row in rows}


def read_pairs(folder, name):
    return {int(uid): int(iid) for uid, iid in read_rows(os.path.join(folder, name))}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"))


def test_same_seed_gives_identical_bytes(demo_dir, tmp_path):
    assert read_bytes(generate(tmp_path / "again")) == read_bytes(demo_dir)


def test_other_seed_gives_other_data(demo_dir, tmp_path):
    other = read_bytes(generate(tmp_path / "other", seed=1))
    assert all(other[name] != content for name, content in read_bytes(demo_dir).items())


def test_no_temporary_files_left(demo_dir):
    assert sorted(os.listdir(demo_dir)) == sorted(DATA_FILES)


def test_every_user_has_train_test_and_validation_lines(demo_dir):
    users = set(range(N_USERS))
    assert set(read_train(demo_dir)) == users
    assert set(read_pairs(demo_dir, "test.txt")) == users
    assert set(read_pairs(demo_dir, "validation.txt")) == users


def test_split_is_leave_one_out(demo_dir):
    train = read_train(demo_dir)
    test = read_pairs(demo_dir, "test.txt")
    validation = read_pairs(demo_dir, "validation.txt")
    for user, items in train.items():
        assert len(items) >= 3
        assert len(set(items)) == len(items)
        assert test[user] not in items
        assert validation[user] in items


def test_every_item_appears_in_train(demo_dir):
    seen = {item for items in read_train(demo_dir).values() for item in items}
    assert seen == set(range(N_ITEMS))


@pytest.mark.parametrize("name, dim", [("item2imgfeat.txt", IMAGE_DIM),
                                       ("itemtitle2vec.txt", TEXT_DIM)])
def test_feature_files_have_one_row_per_item(demo_dir, name, dim):
    rows = read_rows(os.path.join(demo_dir, name))
    assert [int(row[0]) for row in rows] == list(range(N_ITEMS))
    assert all(len(row) == 1 + dim for row in rows)
    assert np.isfinite(np.array([row[1:] for row in rows], dtype=float)).all()


def test_too_few_items_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        make_demo(str(tmp_path), n_users=10, n_items=50, log=quiet)


def svd_scores(train, rank=8):
    """Rank-k truncated SVD of the binary train matrix: the simplest matrix factorisation."""
    matrix = np.zeros((N_USERS, N_ITEMS))
    for user, items in train.items():
        matrix[user, items] = 1.0
    left, singular, right = np.linalg.svd(matrix, full_matrices=False)
    return (left[:, :rank] * singular[:rank]) @ right[:rank]


def hit_rate_at_10(scores, train, test, rng):
    """Leave-one-out HR@10 against 99 negatives not in the user's train list; a tie ranks
    the test item last, as in the reference evaluation."""
    hits = 0
    for user, test_item in test.items():
        excluded = set(train[user]) | {test_item}
        candidates = np.array([i for i in range(N_ITEMS) if i not in excluded])
        negatives = rng.choice(candidates, 99)
        rank = np.sum(scores[user, negatives] >= scores[user, test_item])
        hits += rank < 10
    return hits / len(test)


def test_matrix_factorisation_beats_random(demo_dir):
    train = read_train(demo_dir)
    test = read_pairs(demo_dir, "test.txt")
    rng = np.random.RandomState(0)
    random_hr = hit_rate_at_10(rng.uniform(size=(N_USERS, N_ITEMS)), train, test, rng)
    svd_hr = hit_rate_at_10(svd_scores(train), train, test, rng)
    assert random_hr < 0.2
    assert 0.3 < svd_hr < 0.95  # clearly learnable, yet not trivial
