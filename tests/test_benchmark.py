"""bench.benchmark runs end to end on small data and reports every field; the analytic
FLOP count matches a hand count. No timing is asserted: the machines are shared."""
import json
import os
import subprocess
import sys

from helpers import REPO

from bench.flops import evaluation_flops, training_forward_flops, training_step_flops
from utility.data.demo import make_demo

TINY = dict(batch=4, embed_size=2, feature_dims=[3, 5], n_layers=2, n_mca=1, nnz=10)


def test_training_flops_by_hand():
    # B=4, d=2, image 3-d, text 5-d -> c = 3·2 = 6; K=2 graph layers, C=1 learning layer.
    expected = {
        "propagation": 2 * (2 * 10 * 2),                     # K · 2·nnz·d = 80
        "feature_projections": 3 * (2 * 4 * 3 * 2 + 2 * 4 * 5 * 2),  # pos/neg/int rows = 384
        "weight_forms": 3 * (2 * 6 ** 3),                    # F, G, V·linear: c³ MACs each
        "row_projections": 2 * 2 * (2 * 4 * 6 * 6),          # 2 paths x (hF, hVL) = 1152
        "counterfactual_projections": 2 * 4 * 6 * 6,         # zc G = 288
        "attention_products": 5 * (2 * 4 * 4 * 6),           # 3 positive + 2 negative = 960
        "feed_forward": 2 * (2 * 4 * 6 * 24 + 2 * 4 * 24 * 6),  # 2 paths, c->4c->c = 4608
        "output_projections": 2 * (2 * 4 * 6 * 2),           # dense, dense_1 = 192
    }
    assert training_forward_flops(**TINY) == expected
    assert sum(expected.values()) == 8960
    assert training_step_flops(**TINY) == 3 * 8960


def test_evaluation_flops_by_hand():
    # 3 users x 5 candidates, 7 items, c = 6; C=1: the first layer only.
    flops = evaluation_flops(3, 5, 7, 2, [3, 5], 2, 1, 10)
    refresh = 80 + (2 * 7 * 3 * 2 + 2 * 7 * 5 * 2) + 3 * (2 * 6 ** 3) + 2 * (2 * 7 * 36)
    per_user = 2 * (2 * 5 * 5 * 6) + 2 * (2 * 5 * 6 * 24) + 2 * 5 * 6 * 2
    assert flops == {"refresh": refresh, "scoring": 3 * per_user, "per_user": per_user}
    # C=2 adds the second layer: 3 G x G products, h F and h V·linear, its feed-forward, and
    # one more table row product (z G) in the refresh.
    second = evaluation_flops(3, 5, 7, 2, [3, 5], 2, 2, 10)
    assert second["per_user"] - per_user == (3 * (2 * 5 * 5 * 6) + 2 * (2 * 5 * 6 * 6)
                                             + 2 * (2 * 5 * 6 * 24))
    assert second["refresh"] - refresh == 3 * (2 * 6 ** 3) + 2 * 7 * 36


def test_beauty_step_is_about_72_gflop():
    # Issue 5 quotes ~72 GFLOP per step for Beauty (962-d image, 300-d text, ~272k nnz).
    flops = training_step_flops(2048, 64, [962, 300], 4, 2, 272000)
    assert 70e9 < flops < 76e9


def graph_def_bytes(n_users, n_items, image_dim, text_dim, nnz):
    from model.base import DataShape
    from model.MCLN import MCLN
    from utility.run.build import build_graph
    shape = DataShape(n_users, n_items, {"image": image_dim, "text": text_dim}, nnz)
    graph = build_graph(MCLN, MCLN.Config(), shape, seed=0)[0]
    return graph.as_graph_def().ByteSize()


def test_graph_size_does_not_grow_with_the_catalogue():
    # Features and the adjacency are fed, not embedded: 50 x 8 features or 20,000 x 4096
    # (330 MB as constants) give the same GraphDef but for the shapes written in it (~3 KB).
    small = graph_def_bytes(30, 50, 8, 4, 200)
    large = graph_def_bytes(30000, 20000, 4096, 300, 2000000)
    assert abs(large - small) < 10000 and large < 2000000


def run_bench(tmp_path, *flags):
    out = str(tmp_path / "bench.json")
    command = [sys.executable, "-m", "bench.benchmark", "--steps", "2",
               "--warmup", "1", "--roofline_size", "128", "--roofline_repeats", "2",
               "--json", out] + list(flags)
    completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(out) as handle:
        return completed.stdout, json.load(handle)


FIELDS = ["load_cold_seconds", "load_warm_seconds", "step_seconds", "steps_per_epoch",
          "epoch_seconds", "eval_seconds", "peak_rss_mb", "flops_per_step",
          "achieved_gflops_per_second", "roofline", "roofline_gflops_per_second",
          "ratio_to_roofline", "machine", "tensorflow"]


def test_benchmark_runs_on_demo_data(tmp_path):
    make_demo(str(tmp_path / "data" / "demo"), seed=0, n_users=300, n_items=200,
              log=lambda *args: None)
    stdout, results = run_bench(tmp_path, "--dataset", "demo", "--data_path",
                                str(tmp_path / "data"), "--batch_size", "64",
                                "--eval_users", "50")
    for field in FIELDS:
        assert results.get(field) is not None, field
    assert len(results["step_seconds_all"]) == 2
    assert results["eval_users_total"] == 300 and results["eval_users_timed"] == 50
    # Demo preset: n_layers 2, n_mca 1; 64-d image, 32-d text.
    assert results["flops_per_step"] == training_step_flops(
        64, 64, [64, 32], 2, 1, results["adjacency_nnz"])
    assert "release_beauty" not in results  # only for the amazon-beauty folder
    for label in ("load cold", "load warm", "step (median", "epoch", "FLOPs per step",
                  "achieved", "evaluation", "roofline", "achieved / roofline", "peak RSS"):
        assert label in stdout, label
    assert not os.path.exists(str(tmp_path / "data" / "demo" / ".cache"))  # used a copy


def test_benchmark_runs_on_synthetic_image_only_data(tmp_path):
    stdout, results = run_bench(tmp_path, "--synthetic", "300,150,2000,24", "--batch_size",
                                "32", "--n_layers", "1", "--eval_users", "0")
    assert results["n_items"] == 150 and results["n_train"] == 2000
    assert results["feature_dims"] == {"image": 24}
    assert results["load_warm_seconds"] is None and "eval_seconds" not in results
    assert results["steps_per_epoch"] == 2000 // 32 + 1
    assert "epoch" in stdout
