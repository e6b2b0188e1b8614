"""What the baseline tests (tests/test_feature_baselines.py, test_more_baselines.py and
test_invariant_baselines.py) check alike, each file keeping its models' own checks:

- ``built_on_random_data``: a model on helpers.random_dataset plus a held-out item nobody
  trains on, its weights random (``shared_builds_fixture``: one build per configuration for
  the tests that only read it); ``check_both_protocols`` holds its scores, the sampled
  protocol's ranks and the full protocol (top-K too) to a numpy reference;
  ``check_training_lowers_the_loss``: a few training steps;
- the demo end to end: ``check_trains_on_demo``, a model trained through main.py on
  ``demo_folder`` (made once per session);
- served runs: ``served_runs_fixture`` (tests/test_recommend.py's tiny runs, trained at
  once) and ``check_recommend_and_export``, recommend.py and export.py against the
  evaluation.
"""
import contextlib
import functools
import io
import json
import os
import sys

import numpy as np
import pytest

from helpers import Built, random_dataset, run_cli, run_main
from test_recommend import (K, N_USERS, TRAIN_FLAGS, by_user, evaluation_top_k,
                            other_line_python, saved_model_answers, started, succeeded,
                            write_dataset)
from utility.evaluation.evaluator import HeldOut

# Which interpreter is the other TensorFlow line's does not change during a session: asked
# once, not by every served model's test (each asking starts the other line's TensorFlow).
other_line_python = functools.lru_cache(maxsize=None)(other_line_python)


# -------------------------------------------------------------- built on random data
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


def built_on_random_data(tmp_path, hp):
    """The model ``hp`` names, built on helpers.random_dataset's 15 items (text features when
    ``hp.modalities`` has text, no image file when it is text alone) plus item 15, held out
    for user 4 and trained on by nobody, its weights random: (built, train lists)."""
    folder, train = random_dataset(str(tmp_path / "data"), n_items=15,
                                   text_dim=3 if "text" in hp.modalities else 0)
    add_test_only_item(folder, user=4, item=15)
    if hp.modalities == "text":  # a text-only dataset: no image file at all
        os.remove(os.path.join(folder, "item2imgfeat.txt"))
    built = Built(folder, hp, seed=1)
    randomise(built)
    return built, train


class SharedBuilds(object):
    """``build(folder, model, modalities, **overrides)``'s (built, reference), built once per
    configuration (``overrides`` over the model's ``defaults``) in a folder of its own: for
    the tests that only read the model, never train it, so that their order does not
    matter."""

    def __init__(self, build, tmp_path_factory, defaults=None):
        self.build, self.tmp_path_factory, self.defaults = build, tmp_path_factory, defaults
        self.builds = {}

    def __call__(self, model, modalities, **overrides):
        values = dict((self.defaults or {}).get(model, {}), **overrides)
        key = (model, modalities, tuple(sorted(values.items())))
        if key not in self.builds:
            self.builds[key] = self.build(self.tmp_path_factory.mktemp(model), model,
                                          modalities, **overrides)
        return self.builds[key]


def shared_builds_fixture(build, defaults=None):
    """A module fixture ``shared``: a SharedBuilds of ``build``."""
    @pytest.fixture(scope="module")
    def shared(tmp_path_factory):
        return SharedBuilds(build, tmp_path_factory, defaults)
    return shared


def check_both_protocols(built, reference, users, candidates, k=None):
    """The sampled protocol's scores of ``users``' ``candidates`` and their ranks, then the
    full protocol's scores of every test user (known, train, items masked, the held-out ones
    never) are ``reference``'s; with ``k``, so is the full protocol's top-k (ties: lower id)."""
    dataset, session, ranking = built.dataset, built.session, built.model.ranking
    want = [reference.scores(u, c) for u, c in zip(users, candidates)]
    np.testing.assert_allclose(built.eval_scores(users, candidates), want,
                               rtol=1e-5, atol=1e-6)
    ranks = session.run(ranking.sampled.ranks, {ranking.sampled.users: users,
                                                ranking.sampled.candidates: candidates})
    np.testing.assert_array_equal(ranks, [np.sum(s[:-1] >= s[-1]) for s in want])

    # Full protocol: every item, known (train) items masked, the held-out ones never.
    split = HeldOut("test", dataset.test_pairs, dataset.interaction_keys(), dataset.n_items)
    session.run(ranking.full.refresh)
    full = ranking.full
    feed = {full.users: split.users, full.masked: split.masked_pairs(0, len(split.users))}
    if k is None:
        scores = session.run(full.scores, feed)
    else:
        feed[full.k] = k
        scores, top = session.run([full.scores, full.top_items], feed)
    all_items = np.arange(dataset.n_items)
    for row, user in enumerate(split.users):
        want = reference.scores(user, all_items)
        targets = set(dataset.test_pairs[dataset.test_pairs[:, 0] == user, 1])
        known = set(dataset.train_items[dataset.train_indptr[user]:
                                        dataset.train_indptr[user + 1]]) - targets
        keep = [i for i in all_items if i not in known]
        assert np.isneginf(scores[row, sorted(known)]).all()
        np.testing.assert_allclose(scores[row, keep], want[keep], rtol=1e-5, atol=1e-6)
        if k is not None:
            want[sorted(known)] = -np.inf
            assert top[row].tolist() == sorted(all_items, key=lambda i: (-want[i], i))[:k]


def check_training_lowers_the_loss(built, batch):
    """Five training steps on ``batch`` lower its loss by more than 1e-3: the weights before
    and after them."""
    before, weights = built.losses(*batch)[0], built.weights()
    for _ in range(5):
        built.train_step(*batch)
    assert built.losses(*batch)[0] < before - 1e-3
    return weights, built.weights()


# ------------------------------------------------------------------- demo, end to end
_DEMO = {}


def demo_folder(tmp_path_factory):
    """A folder holding demo/ (600 users, 400 items), written by the command line users run;
    made once per session: the demo tests of every file train on the same one."""
    if "folder" not in _DEMO:
        base = tmp_path_factory.mktemp("baselines_demo")
        status, _, stderr = run_cli([sys.executable, "-m", "utility.make_demo", "--users",
                                     "600", "--items", "400", "--out", str(base / "demo")])
        assert status == 0, stderr
        _DEMO["folder"] = str(base)
    return _DEMO["folder"]


def check_trains_on_demo(tmp_path_factory, tmp_path, model, floor):
    """A few epochs of ``model``'s demo preset through main.py on demo_folder: the run ends
    well, results.json names the model and its loss parts, and its HR@10 beats ``floor``:
    (results, stdout)."""
    out = str(tmp_path / "out")
    flags = ["--dataset", "demo", "--data_path", demo_folder(tmp_path_factory), "--model", model,
             "--out_dir", out, "--epochs", "6", "--threads", "1", "--no_checkpoints"]
    status, stdout, stderr = run_main(flags)
    assert status == 0, stderr
    with open(os.path.join(out, "results.json")) as handle:
        results = json.load(handle)
    assert (results["model"], results["variant"], results["formulation"]) == (model, None, None)
    assert results["final"]["hit@10"] > floor, stdout
    assert set(results["history"][-1]) >= {"loss", "mf_loss", "emb_loss"}
    return results, stdout


# ------------------------------------------------------- checkpoint, recommend.py, export.py
def served_runs_fixture(*models):
    """A module fixture ``served_runs``: model -> run directory of tests/test_recommend.py's
    tiny runs of ``models`` (full protocol, best checkpoint epoch 1), trained in parallel;
    and their root folder."""
    @pytest.fixture(scope="module")
    def served_runs(tmp_path_factory):
        root = tmp_path_factory.mktemp("served_runs")
        write_dataset(str(root / "data" / "tiny"))
        directories = {model: str(root / model) for model in models}
        processes = [started(["main.py", "--dataset", "tiny", "--data_path", str(root / "data"),
                              "--out_dir", directories[model], "--model", model] + TRAIN_FLAGS)
                     for model in models]
        for process in processes:
            succeeded(process)
        return directories, str(root)
    return served_runs


def check_recommend_and_export(served_runs, model, everyone=False):
    """recommend.py's lists are the full-ranking evaluation's top-K of the best checkpoint;
    the exported SavedModel, in a fresh process, answers the same (with ``everyone``, to a
    request for every user too); recommend.py on the other TensorFlow line restores the
    checkpoint to the same lists."""
    import export as export_cli
    import recommend as recommend_cli
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
    answers = saved_model_answers(os.path.join(export_dir, "1"), [(users, K)] + (
        [(list(range(N_USERS)), K)] if everyone else []))
    few = answers[0]
    assert few["item_ids"] == [got[user][0] for user in users]
    np.testing.assert_allclose(few["scores"], [got[user][1] for user in users],
                               rtol=1e-5, atol=1e-5)
    if everyone:
        assert answers[1]["item_ids"] == [got[user][0] for user in range(N_USERS)]

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
