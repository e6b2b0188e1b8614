"""SVD++ and MGAT against numpy transcriptions of their equations (forward pass, loss parts,
both ranking protocols); training on demo data through main.py; their runs served by
recommend.py and export.py as the evaluation ranks."""
import contextlib
import io
import json
import os
import sys

import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset, run_cli, run_main
from numpy_more_baselines import MGATReference, SVDPPReference
from test_feature_baselines import add_test_only_item, randomise
from utility.evaluation.evaluator import HeldOut

BATCH = ([0, 3, 5, 7, 11, 3], [1, 4, 2, 9, 0, 6], [6, 8, 13, 1, 3, 15])
EVAL_USERS = [2, 7, 0, 4]
CANDIDATES = [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0], [0, 1, 2, 3, 4, 5],
              [15, 2, 9, 11, 0, 7]]
CASES = [("svdpp", "image,text", {}), ("svdpp", "image", {"decay": 0.5}),
         ("mgat", "image,text", {"n_layers": 1}), ("mgat", "image", {"n_layers": 2}),
         ("mgat", "text", {"n_layers": 1})]


def built_and_reference(tmp_path, model, modalities, **overrides):
    hp = hyperparameters(model=model, modalities=modalities, **overrides)
    folder, train = random_dataset(str(tmp_path / "data"), n_items=15,
                                   text_dim=3 if "text" in modalities else 0)
    add_test_only_item(folder, user=4, item=15)
    if modalities == "text":  # a text-only dataset: no image file at all
        os.remove(os.path.join(folder, "item2imgfeat.txt"))
    built = Built(folder, hp, seed=1)
    randomise(built)
    dataset = built.dataset
    if model == "svdpp":
        reference = SVDPPReference(built.weights(), train, hp)
    else:
        reference = MGATReference(built.weights(), dataset.features, train, dataset.n_users,
                                  dataset.n_items, hp)
    return built, reference


@pytest.mark.parametrize("model,modalities,overrides", CASES)
def test_loss_parts_and_both_protocols_match_numpy(tmp_path, model, modalities, overrides):
    built, reference = built_and_reference(tmp_path, model, modalities, **overrides)
    dataset, session, ranking = built.dataset, built.session, built.model.ranking
    assert dataset.n_items == 16
    assert sorted(dataset.features) == ([] if model == "svdpp" else
                                        sorted(modalities.split(",")))

    want = reference.losses(*BATCH)
    np.testing.assert_allclose(built.losses(*BATCH), want, rtol=1e-5)
    assert want[1] > 1e-2 and want[2] > 1e-4  # both parts are there to be checked

    want = [reference.scores(u, c) for u, c in zip(EVAL_USERS, CANDIDATES)]
    np.testing.assert_allclose(built.eval_scores(EVAL_USERS, CANDIDATES), want,
                               rtol=1e-5, atol=1e-6)
    ranks = session.run(ranking.sampled.ranks, {ranking.sampled.users: EVAL_USERS,
                                                ranking.sampled.candidates: CANDIDATES})
    np.testing.assert_array_equal(ranks, [np.sum(s[:-1] >= s[-1]) for s in want])

    # Full protocol: every item, known (train) items masked, the held-out ones never.
    split = HeldOut("test", dataset.test_pairs, dataset.interaction_keys(), dataset.n_items)
    session.run(ranking.full.refresh)
    full = ranking.full
    scores, top = session.run([full.scores, full.top_items], {
        full.users: split.users, full.masked: split.masked_pairs(0, len(split.users)),
        full.k: 4})
    all_items = np.arange(dataset.n_items)
    for row, user in enumerate(split.users):
        want = reference.scores(user, all_items)
        targets = set(dataset.test_pairs[dataset.test_pairs[:, 0] == user, 1])
        known = set(dataset.train_items[dataset.train_indptr[user]:
                                        dataset.train_indptr[user + 1]]) - targets
        keep = [i for i in all_items if i not in known]
        assert np.isneginf(scores[row, sorted(known)]).all()
        np.testing.assert_allclose(scores[row, keep], want[keep], rtol=1e-5, atol=1e-6)
        want[sorted(known)] = -np.inf
        assert top[row].tolist() == sorted(all_items, key=lambda i: (-want[i], i))[:4]


def test_implicit_sum_uses_only_the_training_items(tmp_path):
    """SVD++'s user vector moves with y_j of the user's training items and no other."""
    built, reference = built_and_reference(tmp_path, "svdpp", "image")
    implicit = next(v for v in built.model.parameters if v.op.name == "implicit_embedding")
    user, history = 3, reference.history[3]
    other = next(i for i in range(16) if i not in history)
    before = built.eval_scores([user], [[0, 1, 2]])
    built.session.run(tf_assign_row(built, implicit, other))
    np.testing.assert_array_equal(built.eval_scores([user], [[0, 1, 2]]), before)
    built.session.run(tf_assign_row(built, implicit, history[0]))
    assert np.abs(built.eval_scores([user], [[0, 1, 2]]) - before).max() > 1e-3


def tf_assign_row(built, variable, row):
    """An op setting ``row`` of ``variable`` to ones."""
    import tensorflow.compat.v1 as tf
    with built.graph.as_default():
        return tf.scatter_update(variable, [row], np.ones([1, variable.shape[1]], np.float32))


@pytest.mark.parametrize("model", ["svdpp", "mgat"])
def test_training_steps_lower_the_loss(tmp_path, model):
    built, _ = built_and_reference(tmp_path, model, "image,text")
    before = built.losses(*BATCH)[0]
    for _ in range(5):
        built.train_step(*BATCH)
    assert built.losses(*BATCH)[0] < before - 1e-3


def test_variable_names(tmp_path):
    names = {model: {v.op.name for v in built_and_reference(
        tmp_path / model, model, "image,text", n_layers=2)[0].model.parameters}
        for model in ("svdpp", "mgat")}
    assert names["svdpp"] == {"user_embedding", "item_embedding", "implicit_embedding",
                              "item_bias"}
    per_modality = ["user_preference", "feature_projection/kernel", "feature_projection/bias"]
    per_modality += ["layer%d/%s/%s" % (l, unit, part) for l in range(2)
                     for unit in ("attention", "own", "combination") for part in ("kernel",
                                                                                  "bias")]
    assert names["mgat"] == {"user_embedding", "item_embedding"} | {
        "%s/%s" % (m, name) for m in ("image", "text") for name in per_modality}


# ------------------------------------------------------------------- demo, end to end
# HR@10 on the demo test split after 6 epochs of the demo presets (seed 2023), measured on
# TF 2.21 / 1.15 (random ranking: 0.10): svdpp 0.385 / 0.400, mgat 0.543 / 0.550.
DEMO_FLOOR = 0.3


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """A folder holding demo/, written by the command line users run."""
    base = tmp_path_factory.mktemp("more_baselines_demo")
    status, _, stderr = run_cli([sys.executable, "-m", "utility.make_demo", "--users", "600",
                                 "--items", "400", "--out", str(base / "demo")])
    assert status == 0, stderr
    return str(base)


@pytest.mark.parametrize("model", ["svdpp", "mgat"])
def test_trains_on_demo_well_above_random(demo_data, tmp_path, model):
    """A few epochs through main.py: results.json names the model and its loss parts."""
    out = str(tmp_path / "out")
    flags = ["--dataset", "demo", "--data_path", demo_data, "--model", model, "--out_dir", out,
             "--epochs", "6", "--threads", "1", "--no_checkpoints"]
    status, stdout, stderr = run_main(flags)
    assert status == 0, stderr
    with open(os.path.join(out, "results.json")) as handle:
        results = json.load(handle)
    assert (results["model"], results["variant"], results["formulation"]) == (model, None, None)
    assert results["final"]["hit@10"] > DEMO_FLOOR, stdout
    assert set(results["history"][-1]) >= {"loss", "mf_loss", "emb_loss"}


# ------------------------------------------------------- checkpoint, recommend.py, export.py
SERVED = ("svdpp", "mgat")


@pytest.fixture(scope="module")
def served_runs(tmp_path_factory):
    """model -> run directory of tests/test_recommend.py's tiny runs (full protocol, best
    checkpoint epoch 1), trained in parallel; and their root folder."""
    from test_recommend import TRAIN_FLAGS, started, succeeded, write_dataset
    root = tmp_path_factory.mktemp("more_baselines_served")
    write_dataset(str(root / "data" / "tiny"))
    directories = {model: str(root / model) for model in SERVED}
    processes = [started(["main.py", "--dataset", "tiny", "--data_path", str(root / "data"),
                          "--out_dir", directories[model], "--model", model] + TRAIN_FLAGS)
                 for model in SERVED]
    for process in processes:
        succeeded(process)
    return directories, str(root)


@pytest.mark.parametrize("model", SERVED)
def test_recommend_and_the_saved_model_answer_the_full_rankings_top_k(served_runs, model):
    """recommend.py's lists are the full-ranking evaluation's top-K of the best checkpoint;
    the exported SavedModel, in a fresh process, answers the same; recommend.py on the
    other TensorFlow line restores the checkpoint to the same lists."""
    import export as export_cli
    import recommend as recommend_cli
    from test_recommend import (K, N_USERS, by_user, evaluation_top_k, other_line_python,
                                saved_model_answers, started, succeeded)
    directory = served_runs[0][model]
    metrics, split, top, top_scores, recorded = evaluation_top_k(directory)
    for name in ("full_recall@3", "full_ndcg@10", "full_hit@10"):
        assert metrics[name] == pytest.approx(recorded[name], abs=1e-9)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        recommend_cli.main(["--run", directory, "--users", ",".join(map(str, range(N_USERS))),
                            "--k", str(K), "--format", "json"])
    got = by_user(json.loads(printed.getvalue()))
    assert sorted(got) == list(split.users) == list(range(N_USERS))
    for row, user in enumerate(split.users):
        assert got[user][0] == top[row].tolist(), user
        np.testing.assert_allclose(got[user][1], top_scores[row], rtol=1e-5, atol=1e-5)

    export_dir = os.path.join(served_runs[1], "exported-" + model)
    with contextlib.redirect_stdout(io.StringIO()):
        export_cli.main(["--run", directory, "--export_dir", export_dir])
    users = [5, 0, 11, 3]
    few, = saved_model_answers(os.path.join(export_dir, "1"), [(users, K)])
    assert few["item_ids"] == [got[user][0] for user in users]
    np.testing.assert_allclose(few["scores"], [got[user][1] for user in users],
                               rtol=1e-5, atol=1e-5)

    python = other_line_python()
    if python is None:  # tests/test_recommend.py reports the missing line
        return
    out = succeeded(started(["recommend.py", "--run", directory, "--users",
                             ",".join(map(str, users)), "--k", str(K), "--format", "json"],
                            python=python))
    there = by_user(json.loads(out))
    for user in users:
        assert there[user][0] == got[user][0]
        np.testing.assert_allclose(there[user][1], got[user][1], rtol=1e-5, atol=1e-5)
