"""Adjacency normalisation, sampler invariants, ranking metrics (hand-computed values)."""
import numpy as np
import tensorflow.compat.v1 as tf

from helpers import random_dataset, write_dataset
from model.ranking import held_out_rank
from utility.data.load import Dataset, aligned, load_dataset, normalized_adjacency
from utility.evaluation.metrics import rank_metrics
from utility.data.sampler import TrainSampler


def test_adjacency_on_hand_computed_three_user_graph(tmp_path):
    # users 0,1,2; items 0,1. R = [[1,1],[1,0],[0,1]]; user 0 lists item 1 twice.
    folder = write_dataset(str(tmp_path), {0: [0, 1, 1], 1: [0], 2: [1]}, [(0, 0)],
                           np.ones((2, 1)))
    dataset = load_dataset(folder, ["image"], log=lambda *a: None)
    indices, values, n_nodes = normalized_adjacency(dataset, adj_b=0.4)
    dense = np.zeros((n_nodes, n_nodes))
    dense[indices[:, 0], indices[:, 1]] = values
    # A + I row sums: u0: 3, u1: 2, u2: 2, i0: 3, i1: 3 (repeats collapse to one edge).
    r = np.array([3.0, 2, 2, 3, 3])
    a_hat = np.array([[1, 0, 0, 1, 1], [0, 1, 0, 1, 0], [0, 0, 1, 0, 1],
                      [1, 1, 0, 1, 0], [1, 0, 1, 0, 1]], dtype=float)
    want = a_hat * (r[:, None] ** -0.5) * (r[None, :] ** -0.4)
    np.testing.assert_allclose(dense, want, rtol=1e-6)
    assert abs(dense[0, 3] - 3 ** -0.5 * 3 ** -0.4) < 1e-7  # one edge worked out by hand
    assert (np.diff(indices[:, 0] * n_nodes + indices[:, 1]) > 0).all()  # sorted, no dups


def test_sampler_invariants(tmp_path):
    folder, train = random_dataset(str(tmp_path), n_users=40, n_items=30, seed=3)
    dataset = load_dataset(folder, ["image"], log=lambda *a: None)
    sampler = TrainSampler(dataset, 25, np.random.RandomState(0))
    assert sampler.steps_per_epoch == dataset.n_train // 25 + 1
    for _ in range(50):
        users, pos, neg, int_items = sampler.sample()
        assert len(set(users)) == 25
        for u, p, n, i in zip(users, pos, neg, int_items):
            assert p in train[u] and n not in train[u] and i not in train[u]
    # Repeated train entries weigh the positive draw: user 0 lists its first item twice.
    counts = {}
    sampler = TrainSampler(dataset, 40, np.random.RandomState(1))
    for _ in range(3000):
        users, pos, _, _ = sampler.sample()
        p = pos[list(users).index(0)]
        counts[p] = counts.get(p, 0) + 1
    doubled = train[0][0]
    single = [i for i in set(train[0]) if i != doubled]
    assert counts[doubled] > 1.6 * np.mean([counts[i] for i in single])


def test_same_seed_same_batches(tmp_path):
    folder, _ = random_dataset(str(tmp_path), n_users=40, n_items=30)
    dataset = load_dataset(folder, ["image"], log=lambda *a: None)
    a = TrainSampler(dataset, 10, np.random.RandomState(5)).sample()
    b = TrainSampler(dataset, 10, np.random.RandomState(5)).sample()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_rank_metrics_by_hand():
    got = rank_metrics([0, 4, 5, 12, 30], [5, 10, 20])
    assert got["hit@5"] == 2 / 5 and got["hit@10"] == 3 / 5 and got["hit@20"] == 4 / 5
    assert abs(got["ndcg@5"] - (1.0 + 1 / np.log2(6)) / 5) < 1e-12
    assert abs(got["ndcg@20"] - (1.0 + 1 / np.log2(6) + 1 / np.log2(7) + 1 / np.log2(14)) / 5) \
        < 1e-12


def test_held_out_rank_puts_ties_and_copies_first():
    scores = np.array([[0.1, 0.5, 0.3, 0.3],    # one above, one tie -> rank 2
                       [0.2, 0.1, 0.0, 0.9],    # best -> 0
                       [0.4, 0.4, 0.4, 0.4],    # all tied -> after all three
                       [0.7, 0.5, 0.2, 0.6]],   # one above, a copy a hair lower -> 2
                      dtype=np.float32)
    scores[3, 1] = np.nextafter(scores[3, 3], np.float32(0))
    candidates = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [5, 4, 3, 4]], np.int32)
    with tf.Graph().as_default(), tf.Session() as session:
        ranks = session.run(held_out_rank(tf.constant(scores), tf.constant(candidates)))
    np.testing.assert_array_equal(ranks, [2, 0, 3, 2])


def test_features_are_aligned_for_a_copy_free_feed():
    rng = np.random.RandomState(0)
    for rows, width in ((3000, 512), (7, 3)):
        matrix = rng.standard_normal((rows, width)).astype(np.float32)
        copy = aligned(matrix)
        assert copy.ctypes.data % 64 == 0 and copy.dtype == np.float32
        np.testing.assert_array_equal(copy, matrix)
        assert aligned(copy) is copy  # already aligned: no second copy
    assert aligned(np.zeros((0, 5), np.float32)).shape == (0, 5)
    raw = np.zeros(16 * 4096 * 4 + 64, np.uint8)
    offset = (4 - raw.ctypes.data) % 64  # data 4 bytes past a 64-byte boundary
    unaligned = raw[offset:offset + 16 * 4096 * 4].view(np.float32).reshape(16, 4096)
    assert unaligned.ctypes.data % 64 == 4
    dataset = Dataset("x", 1, 16, np.array([0, 0]), np.zeros(0, np.int64),
                      np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64),
                      {"image": unaligned})
    assert dataset.features["image"].ctypes.data % 64 == 0
    np.testing.assert_array_equal(dataset.features["image"], unaligned)
