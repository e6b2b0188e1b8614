"""VBPR and MMGCN against numpy transcriptions of their papers (forward pass, loss parts, both
ranking protocols), with and without text; training on demo data through main.py."""
import json
import os
import sys

import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset, run_cli, run_main
from numpy_feature_baselines import MMGCNReference, VBPRReference, neighbour_mean_matrix
from utility.evaluation.evaluator import HeldOut

BATCH = ([0, 3, 5, 7, 11], [1, 4, 2, 9, 0], [6, 8, 13, 1, 3])
EVAL_USERS = [2, 7, 0]
CANDIDATES = [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0], [0, 1, 2, 3, 4, 5]]
CASES = [("vbpr", "image,text", {}), ("vbpr", "image", {"decay": 0.5, "feature_decay": 0.02}),
         ("mmgcn", "image,text", {"n_layers": 2}), ("mmgcn", "image", {"n_layers": 3})]


def randomise(built):
    """Replace the initial values (item biases start at zero, where they would go unchecked)
    with random ones of a similar scale."""
    rng = np.random.RandomState(0)
    built.session.run([v.assign(rng.uniform(-0.5, 0.5, v.shape.as_list()).astype(np.float32))
                       for v in built.model.parameters])


def add_test_only_item(folder, user, item):
    """``item`` (the next id) held out for ``user``, in no train list: a node without
    neighbours, an item nobody trains on."""
    with open(os.path.join(folder, "test.txt"), "a") as handle:
        handle.write("%d %d\n" % (user, item))
    for name in ("item2imgfeat.txt", "itemtitle2vec.txt"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with open(path) as handle:
                width = len(handle.readline().split()) - 1
            with open(path, "a") as handle:
                handle.write("%d %s\n" % (item, " ".join(["0.5"] * width)))


def built_and_reference(tmp_path, model, modalities, **overrides):
    hp = hyperparameters(model=model, modalities=modalities, **overrides)
    folder, train = random_dataset(str(tmp_path / "data"), n_items=15,
                                   text_dim=3 if "text" in modalities else 0)
    add_test_only_item(folder, user=4, item=15)
    built = Built(folder, hp, seed=1)
    randomise(built)
    dataset = built.dataset
    if model == "vbpr":
        reference = VBPRReference(built.weights(), dataset.features, hp)
    else:
        mean = neighbour_mean_matrix(train, dataset.n_users, dataset.n_items)
        reference = MMGCNReference(built.weights(), dataset.features, mean, dataset.n_users, hp)
    return built, reference


@pytest.mark.parametrize("model,modalities,overrides", CASES)
def test_loss_parts_and_both_protocols_match_numpy(tmp_path, model, modalities, overrides):
    built, reference = built_and_reference(tmp_path, model, modalities, **overrides)
    dataset, session, ranking = built.dataset, built.session, built.model.ranking
    assert dataset.n_items == 16 and sorted(dataset.features) == sorted(modalities.split(","))

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
    scores = session.run(full.scores, {full.users: split.users,
                                       full.masked: split.masked_pairs(0, len(split.users))})
    all_items = np.arange(dataset.n_items)
    for row, user in enumerate(split.users):
        want = reference.scores(user, all_items)
        targets = set(dataset.test_pairs[dataset.test_pairs[:, 0] == user, 1])
        known = set(dataset.train_items[dataset.train_indptr[user]:
                                        dataset.train_indptr[user + 1]]) - targets
        keep = [i for i in all_items if i not in known]
        assert np.isneginf(scores[row, sorted(known)]).all()
        np.testing.assert_allclose(scores[row, keep], want[keep], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- demo, end to end
# HR@10 on the demo test split after 6 epochs of the demo presets (seed 2023), measured on
# TF 2.x / 1.15 (random ranking: 0.10): vbpr 0.527 / 0.502, mmgcn 0.445 / 0.457.
DEMO_FLOOR = 0.35


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """A folder holding demo/, written by the command line users run."""
    base = tmp_path_factory.mktemp("feature_baseline_demo")
    status, _, stderr = run_cli([sys.executable, "-m", "utility.make_demo", "--users", "600",
                                 "--items", "400", "--out", str(base / "demo")])
    assert status == 0, stderr
    return str(base)


@pytest.mark.parametrize("model", ["vbpr", "mmgcn"])
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
