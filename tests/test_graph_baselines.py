"""BPRMF, LightGCN and NGCF against the numpy transcriptions of their papers; dropout;
training on demo data through main.py."""
import json
import os

import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset, run_main
from numpy_baselines import (bpr_losses, bprmf_vectors, full_ranking, lightgcn_vectors,
                             ngcf_vectors, symmetric_laplacian)
from utility.data.demo import make_demo

MODELS = ("bprmf", "lightgcn", "ngcf")
BATCH = ([0, 3, 5, 7, 11], [1, 4, 2, 9, 0], [6, 8, 13, 1, 3])
CANDIDATES = ([2, 7, 0], [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0], [0, 1, 2, 3, 4, 5]])


def built_and_vectors(tmp_path, model, **overrides):
    """The model built on a tiny dataset, and numpy's (user, item) vectors of its weights."""
    hp = hyperparameters(model=model, n_layers=2, **overrides)
    folder, train = random_dataset(str(tmp_path / "data"))
    built = Built(folder, hp, seed=1)
    weights, n_users, n_items = built.weights(), built.dataset.n_users, built.dataset.n_items
    laplacian = symmetric_laplacian(train, n_users, n_items)
    vectors = {"bprmf": lambda: bprmf_vectors(weights),
               "lightgcn": lambda: lightgcn_vectors(weights, laplacian, hp.n_layers),
               "ngcf": lambda: ngcf_vectors(weights, laplacian, hp.n_layers)}[model]()
    return built, hp, train, weights, vectors


def graph_vectors(built, training=False):
    with built.graph.as_default():
        tensors = built.model.vectors(training)
    return built.session.run(tensors)


@pytest.mark.parametrize("model", MODELS)
def test_forward_loss_and_both_protocols_match_numpy(tmp_path, model):
    built, hp, train, weights, (users, items) = built_and_vectors(tmp_path, model)
    assert users.shape[1] == items.shape[1] == hp.embed_size * (
        hp.n_layers + 1 if model == "ngcf" else 1)
    for got, want in zip(graph_vectors(built), (users, items)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    want = bpr_losses(users, items, weights, BATCH, hp.decay, hp.batch_size)
    np.testing.assert_allclose(built.losses(*BATCH), want, rtol=1e-5)
    assert want[2] > 1e-3 and want[1] > 1e-3  # both parts matter at this size

    eval_users, candidates = CANDIDATES
    want = [users[u] @ items[c].T for u, c in zip(eval_users, candidates)]
    np.testing.assert_allclose(built.eval_scores(eval_users, candidates), want,
                               rtol=1e-5, atol=1e-6)

    full = built.model.ranking.full
    known = {u: set(train[u]) for u in eval_users}
    masked = [(row, item) for row, u in enumerate(eval_users) for item in sorted(known[u])]
    built.session.run(full.refresh)
    got_scores, got_top = built.session.run([full.scores, full.top_items], {
        full.users: eval_users, full.masked: masked, full.k: 5})
    want_scores, want_top = full_ranking(users, items, eval_users, known, 5)
    finite = np.isfinite(want_scores)
    np.testing.assert_array_equal(np.isfinite(got_scores), finite)
    np.testing.assert_allclose(got_scores[finite], want_scores[finite], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got_top, want_top)


@pytest.mark.parametrize("model", MODELS)
def test_training_steps_lower_the_loss(tmp_path, model):
    built, _, _, _, _ = built_and_vectors(tmp_path, model)
    before = built.losses(*BATCH)[0]
    for _ in range(5):
        built.train_step(*BATCH)
    assert built.losses(*BATCH)[0] < before - 1e-3


def test_variable_names(tmp_path):
    names = {model: {v.op.name for v in built_and_vectors(tmp_path / model, model)[0]
                     .model.parameters} for model in MODELS}
    assert names["bprmf"] == names["lightgcn"] == {"user_embedding", "item_embedding"}
    assert names["ngcf"] == names["bprmf"] | {"layer%d/%s" % (l, name) for l in range(2) for name
                                              in ("W1/kernel", "W1/bias", "W2/kernel")}


def losses_and_scores(built):
    return built.losses(*BATCH), built.eval_scores(*CANDIDATES)


@pytest.mark.parametrize("rates", [dict(message_dropout=0.5), dict(node_dropout=0.5),
                                   dict(message_dropout=0.3, node_dropout=0.3)])
def test_dropout_changes_training_only(tmp_path, rates):
    plain, _, _, weights, _ = built_and_vectors(tmp_path / "plain", "ngcf")
    dropped, _, _, _, _ = built_and_vectors(tmp_path / "dropped", "ngcf", **rates)
    by_name = {v.op.name: v for v in dropped.model.parameters}
    dropped.session.run([by_name[name].assign(value) for name, value in weights.items()])

    first, second = losses_and_scores(plain), losses_and_scores(plain)
    np.testing.assert_array_equal(first[0], second[0])  # dropout 0: deterministic
    np.testing.assert_array_equal(first[1], second[1])
    with_dropout = [losses_and_scores(dropped) for _ in range(2)]
    for losses, scores in with_dropout:
        np.testing.assert_allclose(scores, first[1], rtol=1e-6)  # evaluation: no dropout
        np.testing.assert_allclose(losses[2], first[0][2], rtol=1e-6)  # ego L2: untouched
        assert abs(losses[1] - first[0][1]) > 1e-4  # BPR on dropped-out vectors
    assert abs(with_dropout[0][0][1] - with_dropout[1][0][1]) > 1e-4  # a new mask per run
    for training, evaluation in zip(graph_vectors(dropped, training=True),
                                    graph_vectors(dropped)):
        assert np.abs(training - evaluation).max() > 1e-3


# ------------------------------------------------------------------- demo, end to end
# HR@10 on this demo data's test split with the presets (12 epochs), measured (TF 2.21 /
# TF 1.15): bprmf 0.495 / 0.483, lightgcn 0.540 / 0.560, ngcf 0.535 / 0.508; random: 0.10.
DEMO_FLOOR = 0.35


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("baseline_demo")
    make_demo(str(base / "demo"), seed=0, n_users=600, n_items=400, log=lambda *args: None)
    return base


@pytest.mark.parametrize("model", MODELS)
def test_trains_on_demo_well_above_random(demo_data, tmp_path, model):
    out = tmp_path / "out"
    status, stdout, stderr = run_main([
        "--dataset", "demo", "--data_path", str(demo_data), "--model", model,
        "--out_dir", str(out), "--threads", "1", "--no_checkpoints"])
    assert status == 0, stderr
    with open(os.path.join(str(out), "results.json")) as handle:
        results = json.load(handle)
    assert results["model"] == model and results["variant"] is None
    assert results["final"]["hit@10"] > DEMO_FLOOR, stdout
    assert "mf_loss" in results["history"][-1] and "emb_loss" in results["history"][-1]
