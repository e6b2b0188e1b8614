"""Careful mode: --valid, --select_metric, --patience, checkpoints and --resume, and the full
ranking protocol (against a brute-force numpy ranking)."""
import json
import os
import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import main
from helpers import Built, hyperparameters, random_dataset, write_dataset
from helpers import run_main as cli_main
from numpy_reference import reference_of
from utility.run import checkpoint as checkpoint_module
from utility.run.checkpoint import Checkpoints, restore_variables
from utility.common.errors import InputError
from utility.evaluation.evaluator import Evaluator, HeldOut, first_items, full_metrics
from utility.data.load import cached_adjacency, load_dataset, without_validation
from utility.data.demo import make_demo
from utility.config.flags import metric_names, parse_args
from utility.data.sampler import TrainSampler
from utility.evaluation.selection import Selection

QUIET = lambda *args: None
SMALL = ["--embed_size", "8", "--n_layers", "2", "--n_mca", "1", "--batch_size", "32",
         "--lr", "0.01", "--decay", "1e-3", "--threads", "1"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Planted-preference data with validation.txt: 150 users, 100 items."""
    base = tmp_path_factory.mktemp("protocols")
    make_demo(str(base / "demo"), seed=3, n_users=150, n_items=100, log=QUIET)
    return str(base)


def run_main(demo, out_dir, *flags):
    args = parse_args(["--dataset", "demo", "--data_path", demo, "--out_dir", str(out_dir)]
                      + SMALL + [str(flag) for flag in flags])
    return main.run(args)


def add_validation(folder, pairs):
    with open(os.path.join(folder, "validation.txt"), "w") as handle:
        handle.writelines("%d %d\n" % pair for pair in pairs)


def train_list(dataset, user):
    return list(dataset.train_items[dataset.train_indptr[user]:dataset.train_indptr[user + 1]])


# ------------------------------------------------------------------------------ --valid
def test_valid_removes_exactly_one_occurrence_per_pair(tmp_path):
    folder, train = random_dataset(str(tmp_path / "data"), n_users=12, n_items=15, seed=2)
    # random_dataset lists each user's first item twice: user 0 loses one of its two
    # copies, user 1 its only copy of its second item, user 2's pair is not in train.
    twice, once = train[0][0], train[1][1]
    absent = next(i for i in range(15) if i not in train[2])
    add_validation(folder, [(0, twice), (1, once), (2, absent)])
    full = load_dataset(folder, ["image", "text"], log=QUIET)
    reduced = without_validation(full)
    assert train_list(reduced, 0).count(twice) == 1
    assert train_list(reduced, 1).count(once) == 0
    assert train_list(reduced, 2) == train[2]
    for user in range(3, 12):
        assert train_list(reduced, user) == train[user]
    assert reduced.n_train == full.n_train - 2
    assert sorted(train_list(reduced, 1) + [once]) == sorted(train[1])

    sampler = TrainSampler(reduced, 12, np.random.RandomState(0))
    positives_of_1 = set()
    for _ in range(300):
        users, pos, neg, int_items = sampler.sample()
        positives_of_1.add(pos[list(users).index(1)])
        # The held-out item is not "interacted" any more, so it may be a negative of user 1.
    assert once not in positives_of_1 and positives_of_1 == set(train_list(reduced, 1))

    def edges(dataset):
        indices, _, _ = cached_adjacency(folder, dataset, 0.4, log=QUIET)
        return set(map(tuple, indices.tolist()))

    n_users = full.n_users
    with_all, without = edges(full), edges(reduced)
    assert (1, n_users + once) in with_all and (1, n_users + once) not in without
    assert (0, n_users + twice) in without
    assert len(with_all) - len(without) == 2  # one undirected edge
    # Both graphs stay cached side by side and are read back unchanged.
    assert edges(reduced) == without and edges(full) == with_all
    names = sorted(name.split("-")[0] for name in os.listdir(os.path.join(folder, ".cache")))
    assert names.count("adjacency_b0.4") == 1
    assert names.count("adjacency_b0.4_without_validation") == 1
    # The graphs of other models (LightGCN's, MMGCN's neighbour mean) are cached beside it.
    for exponent in (0.5, 0.0):
        cached_adjacency(folder, full, exponent, log=QUIET, self_loops=False)
    names = sorted(name.split("-")[0] for name in os.listdir(os.path.join(folder, ".cache")))
    assert {"adjacency_b0.4", "adjacency_no_self_loops_b0.5",
            "adjacency_no_self_loops_b0"} <= set(names)

    os.remove(os.path.join(folder, "validation.txt"))
    with pytest.raises(InputError, match="--valid needs a validation.txt"):
        without_validation(load_dataset(folder, ["image"], log=QUIET))


def test_validation_and_test_negatives_and_masks(demo):
    full = load_dataset(os.path.join(demo, "demo"), ["image", "text"], log=QUIET)
    reduced = without_validation(full)
    args = types.SimpleNamespace(Ks=[5, 10], eval_users_per_call=64, eval_protocol="both",
                                 valid=True, seed=11, test_negatives=None,
                                 save_test_negatives=None)
    careful = Evaluator(args, reduced)
    faithful = Evaluator(types.SimpleNamespace(**dict(vars(args), valid=False,
                                                        negatives="clean")), full)
    valid_split, test_split = careful.splits
    valid_item = dict(map(tuple, full.valid_pairs.tolist()))
    test_item = dict(map(tuple, full.test_pairs.tolist()))
    users, candidates = careful.candidates["valid"]
    test_users, test_candidates = careful.candidates["test"]
    for user, row in zip(users, candidates):
        train = set(train_list(reduced, user))
        assert row[-1] == valid_item[user] and not train.intersection(row[:-1])
        assert valid_item[user] not in row[:-1]
    for user, row in zip(test_users, test_candidates):
        known = set(train_list(full, user)) | {valid_item[user]}
        assert row[-1] == test_item[user] and not known.intersection(row[:-1])
    # In the demo the validation item is also a train item: under the same --negatives the
    # test negatives are the faithful mode's, whatever --valid does to the train lists.
    np.testing.assert_array_equal(test_candidates, faithful.candidates["test"][1])
    assert not np.array_equal(candidates, test_candidates)
    # Full ranking masks: validation hides what the model trained on; test also hides the
    # validation item. Neither hides the split's own held-out item.
    for row, user in enumerate(valid_split.users[:30]):
        trained = set(train_list(reduced, user))
        assert set(valid_split.masked_pairs(row, row + 1)[:, 1]) == trained - {valid_item[user]}
        assert set(test_split.masked_pairs(row, row + 1)[:, 1]) \
            == (trained | {valid_item[user]}) - {test_item[user]}


# --------------------------------------------------------------------- full ranking
def brute_force_metrics(scores, train, targets, Ks):
    """Rank all items in numpy (train items last), then average the metrics over users."""
    sums = {}
    for user, wanted in targets.items():
        row = scores[user].copy()
        row[[item for item in train[user] if item not in wanted]] = -np.inf
        order = np.argsort(-row, kind="stable")
        for k in Ks:
            hits = [1.0 if item in wanted else 0.0 for item in order[:k]]
            dcg = sum(hit / np.log2(rank + 2) for rank, hit in enumerate(hits))
            ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(wanted), k)))
            for name, value in (("recall", sum(hits) / len(wanted)), ("ndcg", dcg / ideal),
                                ("precision", sum(hits) / k), ("hit", float(any(hits)))):
                key = "%s@%d" % (name, k)
                sums[key] = sums.get(key, 0.0) + value
    return {key: value / len(targets) for key, value in sums.items()}


def test_full_ranking_equals_brute_force_numpy(tmp_path, capsys):
    rng = np.random.RandomState(5)
    n_users, n_items = 9, 110
    train = {u: list(rng.choice(n_items - 1, rng.randint(4, 12), replace=False))
             for u in range(n_users)}
    train[0].append(n_items - 1)  # so that n_items = max iid + 1
    test = [(u, int(rng.choice([i for i in range(n_items) if i not in train[u]])))
            for u in range(n_users)]
    others = [i for i in range(n_items) if i not in train[4] and i != test[4][1]]
    test.insert(5, (4, others[7]))  # user 4 has two test items
    test.append((6, train[6][0]))    # user 6's second test item is also a train item
    folder = write_dataset(str(tmp_path / "data"), train, test, rng.rand(n_items, 6),
                           rng.rand(n_items, 4))
    hp = hyperparameters(n_mca=2, lambda_m=0.7)
    built = Built(folder, hp, seed=3)
    dataset, session, model = built.dataset, built.session, built.model
    reference = reference_of(built, train, hp)
    # The definition: every user's candidate list is all items, int items = the same.
    scores = np.stack([reference.scores(u, np.arange(n_items)) for u in range(n_users)])

    full = model.ranking.full
    session.run([model.ranking.refresh])
    session.run(full.refresh)
    split = HeldOut("test", dataset.test_pairs, dataset.interaction_keys(), n_items)
    graph_scores = session.run(full.scores, {
        full.users: split.users, full.masked: split.masked_pairs(0, n_users)})
    targets = {u: {i for v, i in test if v == u} for u in range(n_users)}
    for user in range(n_users):
        masked = [i for i in train[user] if i not in targets[user]]
        assert np.isneginf(graph_scores[user, masked]).all()
        keep = np.setdiff1d(np.arange(n_items), masked)
        np.testing.assert_allclose(graph_scores[user, keep], scores[user, keep],
                                   rtol=1e-5, atol=1e-6)
    assert train[6][0] in targets[6] and np.isfinite(graph_scores[6, train[6][0]])

    Ks = [1, 3, 5, 20]
    want = brute_force_metrics(scores, train, targets, Ks)
    for per_call in (1, 4, 64):  # batches of users, including a ragged last batch
        got = full_metrics(session, model, split, Ks, per_call)
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert 0 < want["recall@20"] < 1 and want["recall@20"] != want["hit@20"]

    first_items(dataset.test_pairs)  # the sampled protocol says it uses one item
    assert "2 test users have several test items" in capsys.readouterr().out


# ------------------------------------------------------------------ selection, patience
def test_selection_takes_the_first_maximum_and_counts_patience():
    curve = [0.1, 0.3, 0.3, 0.2, 0.4, 0.35, 0.1]
    records = [{"epoch": e + 1, "m": value} for e, value in enumerate(curve)]
    selection = Selection("m", patience=2)
    improved = []
    for record in records:
        improved.append(selection.update(record))
        if selection.exhausted:
            break
    assert improved == [True, True, False, False]  # the tie at epoch 3 is no improvement
    assert selection.best["epoch"] == 2
    replayed = Selection("m", patience=3)
    replayed.replay(records)
    assert replayed.best["epoch"] == 5 and replayed.since_best == 2 and not replayed.exhausted


def expected_stop(curve, patience):
    """Index of the evaluation after which patience runs out (None: it never does)."""
    best, since = -np.inf, 0
    for index, value in enumerate(curve):
        best, since = (value, 0) if value > best else (best, since + 1)
        if since == patience:
            return index
    return None


def test_valid_selects_best_validation_epoch_and_stops_on_patience(demo, tmp_path):
    out = tmp_path / "valid"
    epochs = 12
    results = run_main(demo, out, "--epochs", epochs, "--eval_interval", 1, "--valid",
                       "--eval_protocol", "both", "--select_metric", "ndcg@20",
                       "--patience", 2, "--lr", 0.05)
    history = results["history"]
    curve = [record["valid_ndcg@20"] for record in history]
    best_index = int(np.argmax(curve))  # the first maximum
    best = history[best_index]
    names = metric_names("both", [5, 10, 20])
    assert results["valid"] == dict({n: best["valid_" + n] for n in names}, epoch=best["epoch"])
    assert results["test_at_best"] == dict({n: best[n] for n in names}, epoch=best["epoch"])
    stop = expected_stop(curve, 2)
    assert stop is not None and stop + 1 < epochs, curve  # this setting does stop early
    assert results["epochs_run"] == len(history) == stop + 1
    assert results["stopped_early_at_epoch"] == stop + 1
    # results.json: the release's keys unchanged, the new ones beside them.
    with open(str(out / "results.json")) as handle:
        stored = json.load(handle)
    assert stored["test_at_best"] == results["test_at_best"]
    assert list(stored["final"])[:6] == ["hit@5", "hit@10", "hit@20",
                                         "ndcg@5", "ndcg@10", "ndcg@20"]
    assert {"recall@10", "precision@10", "ndcg@10", "hit@10"} <= {
        key[len("full_"):] for key in stored["final"] if key.startswith("full_")}
    assert stored["hyperparameters"]["select_metric"] == "valid_ndcg@20"
    # The checkpoints: best = the selected epoch, last = the last epoch run.
    pointers = {which: json.load(open(str(out / "checkpoints" / (which + ".json"))))
                for which in ("best", "last")}
    assert pointers["best"]["epoch"] == best["epoch"]
    assert pointers["last"]["epoch"] == stop + 1
    assert sorted(os.listdir(str(out / "checkpoints"))) == sorted(  # and the previous state
        {"best.json", "last.json", pointers["best"]["directory"], pointers["last"]["directory"],
         "epoch-%06d" % stop})
    # The best checkpoint restores through --init_checkpoint: evaluating it reproduces the
    # test metrics recorded at the selected epoch.
    again = run_main(demo, tmp_path / "again", "--epochs", 0, "--valid", "--eval_protocol",
                     "both", "--init_checkpoint", out / "checkpoints", "--no_checkpoints")
    for name in names:
        assert again["final"][name] == pytest.approx(best[name], abs=1e-9), name


# ------------------------------------------------------------------ checkpoints, resume
def test_resume_reproduces_the_uninterrupted_run(demo, tmp_path):
    """An uninterrupted 5-epoch run against 2 epochs, then --resume --epochs 5.

    Separate processes with --threads 1: TF on CPU is bit-reproducible single-threaded, but
    not with several threads, and a process's first session fixes its thread pool.
    """
    flags = ["--eval_interval", 2, "--valid"]

    def run(out, *more):
        status, stdout, stderr = cli_main(["--dataset", "demo", "--data_path", demo,
                                           "--out_dir", str(out)]
                                          + SMALL + [str(f) for f in flags + list(more)])
        assert status == 0, stderr
        with open(str(out / "results.json")) as handle:
            return json.load(handle), stdout

    whole, _ = run(tmp_path / "whole", "--epochs", 5)
    part = tmp_path / "part"
    run(part, "--epochs", 2)
    # A crash while writing epoch 4 would leave a temporary directory and pointer behind.
    checkpoints = part / "checkpoints"
    crashed = checkpoints / "epoch-000004.tmp-99999"
    crashed.mkdir()
    (crashed / "model.index").write_bytes(b"\x00half")
    (checkpoints / "last.json.tmp-99999").write_text('{"directory": "epoch-0000')

    resumed, stdout = run(part, "--epochs", 5, "--resume")
    assert "resumed from" in stdout and "after epoch 2" in stdout
    assert resumed["resumed_after_epoch"] == 2 and resumed["epochs_run"] == 5
    for key in ("loss", "mf_loss", "emb_loss"):
        np.testing.assert_allclose([r[key] for r in resumed["history"]],
                                   [r[key] for r in whole["history"]], rtol=1e-5)
    want = tf.train.load_checkpoint(whole["checkpoints"]["last"])
    got = tf.train.load_checkpoint(resumed["checkpoints"]["last"])
    for name in want.get_variable_to_shape_map():  # Adam slots and beta powers included
        np.testing.assert_allclose(got.get_tensor(name), want.get_tensor(name), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    assert resumed["final"] == pytest.approx(whole["final"], abs=1e-9)
    assert resumed["valid"] == pytest.approx(whole["valid"], abs=1e-9)
    assert sorted(os.listdir(str(checkpoints))) == sorted(
        {"best.json", "last.json", "epoch-%06d" % resumed["valid"]["epoch"], "epoch-000004",
         "epoch-000005"})

    # In-process from here: these do not train.
    with pytest.raises(InputError, match="--lr 0.01, this run has 0.02"):
        run_main(demo, part, "--epochs", 5, "--resume", "--lr", 0.02, *flags)
    with pytest.raises(InputError, match="at epoch 5, beyond --epochs 4"):
        run_main(demo, part, "--epochs", 4, "--resume", *flags)
    again = run_main(demo, part, "--epochs", 5, "--resume", *flags)  # nothing left to do
    assert again["history"] == resumed["history"] and again["final"] == resumed["final"]


def test_a_crash_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    args = parse_args(["--dataset", "x", "--out_dir", str(tmp_path), "--epochs", "3"])
    with tf.Graph().as_default() as graph:
        weight = tf.get_variable("user_embedding", [3], initializer=tf.zeros_initializer())
        step = tf.assign_add(weight, tf.ones([3]))
    session = tf.Session(graph=graph)
    session.run(weight.initializer)
    checkpoints = Checkpoints(str(tmp_path))

    def state(epoch):
        return {"epoch": epoch, "history": [{"epoch": e} for e in range(1, epoch + 1)],
                "hyperparameters": checkpoint_module.hyperparameters(args)}

    session.run(step)
    checkpoints.save(session, state(1), best=True)
    session.run(step)

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed")

    for target in ("write_json_atomically", "os.rename"):  # inside the state, at the rename
        with monkeypatch.context() as patch:
            if target == "os.rename":
                patch.setattr(checkpoint_module.os, "rename", crash)
            else:
                patch.setattr(checkpoint_module, target, crash)
            with pytest.raises(KeyboardInterrupt):
                checkpoints.save(session, state(2), best=False)
        assert any(".tmp-" in name for name in os.listdir(checkpoints.directory))
        assert checkpoints.load_last(args)["epoch"] == 1
        session.run(weight.assign([9.0, 9.0, 9.0]))
        checkpoints.restore_last(session)
        np.testing.assert_array_equal(session.run(weight), [1.0, 1.0, 1.0])
        session.run(step)
    # The next save succeeds and sweeps the leftovers; restore by name reads it too.
    checkpoints.save(session, state(2), best=False)
    assert sorted(os.listdir(checkpoints.directory)) == [
        "best.json", "epoch-000001", "epoch-000002", "last.json"]
    session.run(weight.assign([0.0, 0.0, 0.0]))
    restore_variables(session, [weight], checkpoints.path("last"))
    np.testing.assert_array_equal(session.run(weight), [2.0, 2.0, 2.0])
    restore_variables(session, [weight], checkpoints.directory)  # the folder means best
    np.testing.assert_array_equal(session.run(weight), [1.0, 1.0, 1.0])


# ------------------------------------------------------------------------------ flags
def test_flag_checks():
    def parse(*flags):
        return parse_args(["--dataset", "x"] + list(flags))

    assert parse().select_metric == "hit@10" and parse("--valid").select_metric == "valid_hit@10"
    assert parse("--eval_protocol", "full", "--select_metric", "ndcg@20").select_metric \
        == "full_ndcg@20"
    assert parse("--eval_protocol", "both", "--valid", "--select_metric",
                 "full_recall@5").select_metric == "valid_full_recall@5"
    for bad in (["--patience", "3"], ["--select_metric", "recall@10"],
                ["--select_metric", "hit@50"]):
        with pytest.raises(SystemExit):
            parse(*bad)
