"""Paired verdicts of the paper's claims: Holm's correction, the bootstrap interval and the
Wilcoxon test on planted per-user data whose answer is known, the per-user outcome files a
run writes, and the runner giving every configuration the same candidates."""
import csv
import json
import os

import numpy as np
import pytest

from experiments import catalogue, claims
from experiments.statistics import collect
from utility.evaluation.metrics import rank_metrics
from utility.evaluation.outcomes import (OutcomeFiles, metrics_of, per_user, read_outcome,
                                         sampled_outcome, write_outcome)

N_USERS = 400


def test_holm_against_a_hand_computed_example():
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, but
    # never below the step before: 0.06).
    assert claims.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert claims.holm([0.01, None, 0.04]) == [pytest.approx(0.02), None, pytest.approx(0.04)]
    assert claims.holm([0.6, 0.7]) == [1.0, 1.0]
    assert claims.holm([]) == []


def test_bootstrap_interval_covers_the_true_mean_at_about_its_level():
    rng = np.random.RandomState(5)
    true_mean, covered = 0.03, 0
    for replicate in range(100):
        differences = rng.normal(true_mean, 0.2, size=300)
        low, high = claims.bootstrap_interval(differences, resamples=500, seed=replicate)
        assert low < differences.mean() < high
        covered += low <= true_mean <= high
    assert covered >= 88  # nominal 95 of 100
    # Seeded: the same interval on every call.
    assert claims.bootstrap_interval(differences) == claims.bootstrap_interval(differences)


def test_bootstrap_by_value_counts_matches_resampling_users():
    """Few distinct values take the multinomial path; resampling users by index (numpy,
    here) gives the same interval up to Monte Carlo error."""
    rng = np.random.RandomState(2)
    differences = rng.choice([-1.0, 0.0, 0.0, 0.5, 1.0], size=1000)
    low, high = claims.bootstrap_interval(differences, resamples=4000)
    picks = rng.randint(0, len(differences), size=(4000, len(differences)))
    expected = np.percentile(differences[picks].mean(axis=1), [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(expected), abs=0.006)


def planted_ranks(rng, shift=0, n=N_USERS):
    """Sampled ranks (0..99) of ``n`` users, ``shift`` places better (negative: worse)."""
    base = rng.randint(0, 30, size=n)
    return np.clip(base - shift, 0, 99)


def test_wilcoxon_rejects_a_true_null_at_about_the_stated_rate():
    rng = np.random.RandomState(11)
    rejected = 0
    for _ in range(200):
        # Two seeds per side, averaged per user, as the claims read them.
        a = np.mean([per_hit5(planted_ranks(rng)) for _ in range(2)], axis=0)
        b = np.mean([per_hit5(planted_ranks(rng)) for _ in range(2)], axis=0)
        rejected += claims.paired_p(a - b) < claims.ALPHA
    assert rejected / 200.0 <= 0.08
    assert claims.paired_p(np.zeros(10)) == 1.0


def per_hit5(ranks):
    return (np.asarray(ranks) < 5).astype(np.float64)


def write_run(out_dir, config, seed, ranks, negatives_sha="same"):
    """A finished run as main.py leaves it: results.json naming a per-user outcomes file."""
    directory = os.path.join(out_dir, config, "seed-%d" % seed)
    os.makedirs(os.path.join(directory, "outcomes"))
    outcome = sampled_outcome(np.arange(len(ranks)), ranks)
    write_outcome(os.path.join(directory, "outcomes", "epoch-4-test.npz"), outcome)
    figures = dict(rank_metrics(ranks, [5]), epoch=4)
    made = {"epochs_run": 4, "final": figures, "best": figures, "test_at_best": figures,
            "seconds": {"load": 0.0, "train_epoch_mean": 1.0}, "history": [],
            "hyperparameters": {"model": "mcln", "variant": config},
            "outcomes": {"test_at_best": "outcomes/epoch-4-test.npz"},
            "negatives": {"test": {"file": "n.txt", "sha256": negatives_sha}}}
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump(made, f)


CONFIGS = [catalogue.Config(name, name.upper(), (), name, None)
           for name in ("strong", "weak", "twin", "bare")]


def planted_table(tmp_path):
    """strong is 8 places better than weak for every user; twin is weak drawn again (a null
    difference); bare has no outcomes. Two seeds each."""
    out_dir = str(tmp_path)
    rng = np.random.RandomState(3)
    for seed in (0, 1):
        weak = planted_ranks(rng)
        write_run(out_dir, "weak", seed, weak)
        write_run(out_dir, "strong", seed, np.clip(weak - 8, 0, 99))
        write_run(out_dir, "twin", seed, planted_ranks(rng))
    os.makedirs(os.path.join(out_dir, "bare", "seed-0"))
    with open(os.path.join(out_dir, "bare", "seed-0", "results.json"), "w") as f:
        json.dump({"epochs_run": 4, "best": {"hit@5": 0.9, "ndcg@5": 0.8, "epoch": 4},
                   "final": {}, "seconds": {"train_epoch_mean": 1.0}, "history": []}, f)
    return collect(out_dir, CONFIGS)


def claim(better, worse, kind="greater"):
    return catalogue.Claim("%s > %s" % (better, worse), (better,), (worse,), kind)


def test_planted_differences_hold_reverse_and_null_is_not_shown(tmp_path):
    rows = planted_table(tmp_path)
    table = [claim("strong", "weak"), claim("weak", "strong"), claim("twin", "weak"),
             claim("strong", "bare"), claim("strong", "twin", "equal")]
    metrics, judged = claims.judge_all(table, rows)
    assert metrics == ["hit@5", "ndcg@5"]
    verdicts = [[j.verdict for j in judgements] for _, judgements in judged]
    assert verdicts[0] == ["holds", "holds"]
    assert verdicts[1] == ["reversed", "reversed"]
    assert verdicts[2] == ["not shown", "not shown"]
    assert verdicts[3] == [claims.NO_OUTCOMES] * 2
    assert verdicts[4] == ["differ (interval excludes 0)"] * 2
    strong = judged[0][1][0]
    assert strong.seeds == [0, 1] and strong.users == N_USERS
    # The difference is the per-user mean over the shared seeds: the means' difference.
    assert strong.difference == pytest.approx(strong.mean_better - strong.mean_worse)
    assert strong.low < strong.difference < strong.high and strong.low > 0
    assert strong.p_holm >= strong.p and strong.p < 1e-6
    # Holm over the four tested claims of hit@5 (bare's is untested).
    raw = [judgements[0].p for _, judgements in judged]
    assert [j[0].p_holm for _, j in judged] == claims.holm(raw)
    assert raw[3] is None


def test_runs_ranking_other_candidates_are_not_paired(tmp_path):
    out_dir = str(tmp_path)
    ranks = planted_ranks(np.random.RandomState(0))
    write_run(out_dir, "strong", 0, ranks, negatives_sha="aaa")
    write_run(out_dir, "weak", 0, ranks, negatives_sha="bbb")
    rows = collect(out_dir, CONFIGS[:2])
    _, judged = claims.judge_all([claim("strong", "weak")], rows)
    assert judged[0][1][0].verdict == claims.UNPAIRED


def test_per_user_full_ranking_values_and_pruning(tmp_path):
    from utility.evaluation.outcomes import full_outcome
    # User 3: two held-out items at positions 0 and 4 of its top 5; user 7: one, beyond it.
    outcome = full_outcome(np.array([3, 7]), np.array([2, 1]), np.array([10, 11, 12]),
                           np.array([0, 4, -1]), 5)
    users, recall = per_user(outcome, "full_recall@5")
    assert users.tolist() == [3, 7] and recall.tolist() == [1.0, 0.0]
    _, ndcg = per_user(outcome, "full_ndcg@5")
    ideal = 1.0 + 1.0 / np.log2(3.0)
    assert ndcg == pytest.approx([(1.0 + 1.0 / np.log2(6.0)) / ideal, 0.0])
    assert per_user(outcome, "full_recall@1")[1].tolist() == [0.5, 0.0]
    with pytest.raises(ValueError):
        per_user(outcome, "full_recall@10")  # ranks beyond the 5th were not kept
    files = OutcomeFiles(str(tmp_path))
    for epoch in (1, 2, 3):
        files.write(epoch, {"test": outcome, "valid": outcome})
    files.keep({1, 3})
    assert sorted(os.listdir(files.directory)) == [
        "epoch-1-test.npz", "epoch-1-valid.npz", "epoch-3-test.npz", "epoch-3-valid.npz"]
    assert files.named({"final": (3, "test"), "best": (2, "test")}) == {
        "final": os.path.join("outcomes", "epoch-3-test.npz")}


def test_valid_negatives_file_is_the_one_ranked(tmp_path):
    import types
    from utility.data.load import load_dataset, without_validation
    from utility.evaluation.evaluator import Evaluator, negatives_text
    from utility.data.demo import make_demo
    folder = str(tmp_path / "tiny")
    make_demo(folder, seed=0, n_users=40, n_items=100, log=lambda *a: None)
    dataset = without_validation(load_dataset(folder, [], log=lambda *a: None))
    args = types.SimpleNamespace(Ks=[5], eval_users_per_call=8, eval_protocol="sampled",
                                 valid=True, seed=1, negatives="clean", test_negatives=None,
                                 valid_negatives=None, save_test_negatives=None)
    drawn = Evaluator(args, dataset)
    other = Evaluator(types.SimpleNamespace(**dict(vars(args), seed=2)), dataset)
    users, candidates = other.candidates["valid"]
    assert not np.array_equal(candidates, drawn.candidates["valid"][1])
    path = str(tmp_path / "valid.txt")
    with open(path, "w") as f:
        f.write(negatives_text(users, candidates[:, :-1]))
    with_file = types.SimpleNamespace(**dict(vars(args), valid_negatives=path))
    given = Evaluator(with_file, dataset)
    np.testing.assert_array_equal(given.candidates["valid"][1], candidates)
    assert list(given.negatives_files(with_file)) == ["valid"]


def test_runner_pairs_configurations_on_the_same_candidates(tmp_path, capsys):
    """Two configurations of table3 on a tiny demo: the same negatives files (SHA-256 in
    results.json), per-user outcomes whose HR and NDCG are results.json's, paired verdicts
    in summary.md, claims.csv and the runner's output."""
    from experiments.run import main as run_main
    from utility.data.demo import make_demo
    make_demo(str(tmp_path / "data" / "tiny"), seed=0, n_users=40, n_items=100,
              log=lambda *a: None)
    argv = ["table3", "--dataset", "tiny", "--data_path", str(tmp_path / "data"), "--out",
            str(tmp_path / "out"), "--epochs", "2", "--configs", "base,v", "--threads", "1",
            "--embed_size", "4", "--batch_size", "16", "--eval_interval", "1", "--valid",
            "--eval_users_per_call", "8", "--eval_protocol", "both"]
    assert run_main(argv) == 0
    printed = capsys.readouterr().out
    out_dir = tmp_path / "out" / "table3" / "tiny"
    made = {}
    for config in ("base", "v"):
        with open(str(out_dir / config / "seed-0" / "results.json")) as f:
            made[config] = json.load(f)
    negatives = [made[c]["negatives"] for c in ("base", "v")]
    assert negatives[0] == negatives[1] and sorted(negatives[0]) == ["test", "valid"]
    assert os.path.basename(negatives[0]["test"]["file"]) == "seed-0-clean+valid-test.txt"
    from utility.common.atomic import sha256_of
    assert sha256_of(negatives[0]["test"]["file"]) == negatives[0]["test"]["sha256"]
    for config in ("base", "v"):
        results = made[config]
        for section in ("test_at_best", "valid", "final", "best"):
            outcome = read_outcome(str(out_dir / config / "seed-0" /
                                       results["outcomes"][section]))
            recomputed, reported = metrics_of(outcome, [5, 10, 20]), results[section]
            for name in ("hit@5", "ndcg@5", "hit@10", "ndcg@10", "hit@20", "ndcg@20"):
                assert recomputed[name] == reported[name]  # exactly
            for name in ("full_recall@20", "full_ndcg@20", "full_precision@5", "full_hit@10"):
                assert recomputed[name] == pytest.approx(reported[name], abs=1e-12)
        kept = sorted(os.listdir(str(out_dir / config / "seed-0" / "outcomes")))
        assert kept == sorted(set(os.path.basename(p) for p in results["outcomes"].values()))
    users = [read_outcome(str(out_dir / c / "seed-0" / made[c]["outcomes"]["test_at_best"]))
             ["users"] for c in ("base", "v")]
    np.testing.assert_array_equal(users[0], users[1])
    markdown = (out_dir / "summary.md").read_text()
    assert "| V > Base | HR@5 | (2) Base w/ V " in markdown and "95 % interval" in markdown
    with open(str(out_dir / "claims.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["claim"], r["metric"]) for r in rows][:2] == [("V > Base", "hit@5"),
                                                             ("V > Base", "ndcg@5")]
    assert rows[2]["verdict"] == "no finished runs on one side"  # V&CL > V: no V&CL runs
    assert rows[0]["users"] == "40" and rows[0]["seeds"] == "0"
    assert float(rows[0]["ci_low"]) <= float(rows[0]["difference"]) <= float(rows[0]["ci_high"])
    assert rows[0]["verdict"] in ("holds", "reversed", "not shown")
    assert "V > Base: hit@5 " in printed and "Holm p=" in printed
