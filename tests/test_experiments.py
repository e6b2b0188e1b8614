"""The experiment runner: statistics and claim lines on hand-made results, restart
behaviour with a stand-in trainer, the command line's errors, real runs on tiny data
(local backend and Ray)."""
import collections
import csv
import functools
import glob
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from experiments import catalogue, claims, paper
from experiments.run import main as run_main
from experiments.runs import Trainer, state
from experiments.statistics import aggregate, mean_std
from experiments.summary import write_summary
from utility.common.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A stand-in for main.py: "trains" --epochs epochs, one checkpoint file per epoch, resumes
# from it with --resume, and writes results.json, holding its out_dir's run lock as main.py
# does. With FAKE_HANG=<text in its out_dir> (a config name) it stops after its first
# epoch's checkpoint, creates <out_dir>/hung and waits to be killed (or for
# <out_dir>/go_on to appear).
FAKE_TRAINER = textwrap.dedent('''
    import json, os, sys, time
    sys.path.insert(0, REPO_PATH)
    from utility.run.run_lock import RunLock

    RUNNER_FLAGS = ("--out_dir", "--threads", "--epochs")

    def hyperparameters(argv):
        kept, flags, i = [], {}, 0
        while i < len(argv):
            if argv[i] == "--resume":
                i += 1
                continue
            valued = i + 1 < len(argv) and not argv[i + 1].startswith("--")  # not --valid
            flags[argv[i]] = argv[i + 1] if valued else ""
            if argv[i] not in RUNNER_FLAGS:
                kept += argv[i:i + 1 + valued]
            i += 1 + valued
        recorded = {"epochs": int(flags.get("--epochs", 3)), "patience": 0, "flags": kept,
                    "out_dir": flags["--out_dir"]}
        if "--valid" in flags:
            recorded["select_metric"] = "valid_hit@10"
        return recorded

    def main(argv):
        h = hyperparameters(argv)
        with RunLock(h["out_dir"]):
            train(argv, h, h["out_dir"])

    def train(argv, h, out):
        marker = os.path.join(out, "checkpoints", "epoch.txt")
        start = 0
        if "--resume" in argv and os.path.exists(marker):
            start = int(open(marker).read())
            print("resumed from epoch %d" % start)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        seed = int(argv[argv.index("--seed") + 1])
        for epoch in range(start + 1, h["epochs"] + 1):
            with open(marker, "w") as f:
                f.write(str(epoch))
            hang = os.environ.get("FAKE_HANG")
            if hang and hang in out and not os.path.exists(os.path.join(out, "hung")):
                open(os.path.join(out, "hung"), "w").close()
                deadline = time.time() + 600
                while time.time() < deadline and not os.path.exists(os.path.join(out, "go_on")):
                    time.sleep(0.05)
        figures = {"hit@5": 0.1 + 0.01 * seed, "ndcg@5": 0.05, "epoch": h["epochs"]}
        results = {"epochs_run": h["epochs"], "best": figures, "final": figures,
                   "seconds": {"load": 0.0, "train_epoch_mean": 0.5},
                   "history": [], "hyperparameters": h,
                   "resumed_after_epoch": start or None}
        if "--valid" in argv:  # validation hit@10 grows with --decay, test hit@10 shrinks
            decay = float(dict(zip(argv, argv[1:])).get("--decay", 0))
            results["valid"] = {"hit@10": 0.2 + decay + 0.01 * seed, "epoch": 2}
            results["test_at_best"] = dict(figures, epoch=2, **{"hit@10": 0.3 - decay})
            results["best"] = results["final"] = results["test_at_best"]
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(results, f)

    if __name__ == "__main__":
        main(sys.argv[1:])
''')


def fake_trainer(folder):
    """A runs.Trainer that runs FAKE_TRAINER (written into ``folder``)."""
    path = os.path.join(str(folder), "fake_main.py")
    with open(path, "w") as f:
        f.write(FAKE_TRAINER.replace("REPO_PATH", repr(REPO)))
    spec = importlib.util.spec_from_file_location("fake_main", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Trainer([sys.executable, path], module.hyperparameters), path


def tiny_data(folder, text=True):
    """A dataset folder the runner accepts (the stand-in trainer never reads it)."""
    os.makedirs(folder, exist_ok=True)
    for name, width in (("train.txt", 2), ("item2imgfeat.txt", 4), ("itemtitle2vec.txt", 3)):
        if name != "itemtitle2vec.txt" or text:
            with open(os.path.join(folder, name), "w") as f:
                f.write(" ".join(["0"] * (width + 1)) + "\n")
    return folder


def results(hit5, ndcg5, epoch=4, best=None, valid=True):
    """A results.json as main.py writes it: with ``valid``, ``test_at_best`` holds the
    reported figures and ``best`` (the release's best-on-test) ``best`` or the same."""
    figures = {"hit@5": hit5, "ndcg@5": ndcg5, "epoch": epoch}
    made = {"epochs_run": 2 * epoch, "final": figures, "best": best or figures,
            "seconds": {"load": 1.0, "train_epoch_mean": 2.0},
            "history": [{"epoch": 1, "train_seconds": 2.0, "eval_seconds": 3.0}],
            "hyperparameters": {"model": "mcln", "variant": "full"}}
    if valid:
        made["test_at_best"] = figures
    return made


def write_results(out_dir, config, seed, made):
    directory = os.path.join(out_dir, config, "seed-%d" % seed)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump(made, f)


def read_csv(path):
    with open(path) as f:
        return {row["config"]: row for row in csv.DictReader(f)}


def test_mean_and_sample_deviation():
    assert mean_std([0.40, 0.42, 0.44]) == pytest.approx((0.42, 0.02))
    assert mean_std([1.0]) == (1.0, None)
    assert mean_std([]) == (None, None)


def test_aggregate_reports_validation_selected_figures_beside_the_release_best():
    pairs = [(0, results(0.40, 0.30, epoch=4, best={"hit@5": 0.50, "ndcg@5": 0.35,
                                                     "epoch": 6})),
             (1, results(0.44, 0.34, epoch=8, best={"hit@5": 0.52, "ndcg@5": 0.37,
                                                     "epoch": 8}))]
    row = aggregate(pairs)
    assert row.source == "test_at_best" and row.n == 2 and row.seeds == [0, 1]
    assert row.metrics["hit@5"] == pytest.approx((0.42, 0.04 / 2 ** 0.5))
    assert row.release_best["hit@5"] == pytest.approx((0.51, 0.02 / 2 ** 0.5))
    assert row.best_epoch == 6.0 and row.epochs_run == 12.0
    assert row.seconds_per_epoch == 2.0
    assert row.compute_seconds == pytest.approx(2 * (1.0 + 2.0 + 3.0))
    # Without --valid the release's figure is the one reported.
    row = aggregate([(0, results(0.40, 0.30, valid=False))])
    assert row.source == "best" and row.release_best == {}


def table3_rows(tmp_path, values):
    """Hand-made runs of table3 on Taobao: {config: [(hit@5, ndcg@5) per seed]}; returns
    the configs, claims and the summary's csv rows and markdown lines."""
    out_dir = str(tmp_path / "table3" / "taobao")
    for config, seeds in values.items():
        for seed, (hit5, ndcg5) in enumerate(seeds):
            write_results(out_dir, config, seed, results(hit5, ndcg5))
    experiment, configs, claim_list = catalogue.plan("table3", "taobao", ["image"])
    context = {"experiment": experiment, "dataset": "taobao", "command": "python -m x",
               "features": "hand-made", "wall_seconds": 1.0}
    write_summary(out_dir, context, configs, claim_list)
    with open(os.path.join(out_dir, "summary.md")) as f:
        markdown = f.read().splitlines()
    assert os.path.getsize(os.path.join(out_dir, "summary.png")) > 0
    return configs, claim_list, read_csv(os.path.join(out_dir, "summary.csv")), markdown


def test_table3_summary_statistics_and_claim_lines(tmp_path):
    configs, claim_list, rows, markdown = table3_rows(tmp_path, {
        "base": [(0.38, 0.28), (0.40, 0.30), (0.42, 0.32)],   # mean 0.40, sd 0.02
        "v": [(0.50, 0.30), (0.50, 0.31), (0.50, 0.32)],      # mean 0.50, sd 0; 0.31, 0.01
        "v_cl": [(0.49, 0.33), (0.51, 0.34), (0.53, 0.35)],   # 0.51, 0.02; 0.34, 0.01
        "full": [(0.60, 0.40)],                               # one seed
    })
    assert [c.name for c in configs] == ["base", "v", "v_cl", "full"]
    assert [c.text for c in claim_list] == ["V > Base", "V&CL > V", "MCLN > V&CL",
                                            "MCLN > Base"]
    assert float(rows["base"]["hit@5_mean"]) == pytest.approx(0.40)
    assert float(rows["base"]["hit@5_std"]) == pytest.approx(0.02)
    assert float(rows["v"]["ndcg@5_std"]) == pytest.approx(0.01)
    assert rows["full"]["hit@5_std"] == "" and rows["full"]["n"] == "1"
    assert rows["base"]["paper_hit@5"] == "0.3933" and rows["full"]["paper_ndcg@5"] == "0.3060"
    assert rows["base"]["source"] == "test_at_best"
    assert rows["base"]["model"] == "mcln" and rows["v"]["seeds"] == "0 1 2"
    # Hand-made runs keep no per-user outcomes: the claims show the seeds' spread only.
    lines = [l for l in markdown if l.startswith("| V > Base") or l.startswith("| MCLN > V&CL")]
    untested = "|  |  |  |  |  | no per-user outcomes: not tested |"
    assert lines == [
        "| V > Base | HR@5 | (2) Base w/ V 0.5000 ± 0.0000 | (1) Base 0.4000 ± 0.0200 " +
        untested,
        "| V > Base | NDCG@5 | (2) Base w/ V 0.3100 ± 0.0100 | (1) Base 0.3000 ± 0.0200 " +
        untested,
        "| MCLN > V&CL | HR@5 | (10) MCLN 0.6000 | (3) Base w/ V&CL 0.5100 ± 0.0200 " +
        untested,
        "| MCLN > V&CL | NDCG@5 | (10) MCLN 0.4000 | (3) Base w/ V&CL 0.3400 ± 0.0100 " +
        untested]
    table_line = [l for l in markdown if l.startswith("| (1) Base")][0]
    assert "0.4000 ± 0.0200 | 0.3933 | +0.0067" in table_line
    assert any(l.startswith("## The release's best-on-test figure") for l in markdown)


# A stand-in for statistics.Row: three seeds, one metric (mean, sd), no per-user outcomes.
Stat = collections.namedtuple("Stat", "n metrics seeds outcomes negatives")


def stat(mean, sd):
    return Stat(3, {"hit@5": (mean, sd)}, [0, 1, 2], {}, {})


def test_group_claim_compares_the_best_of_each_side():
    rows = {"n_mca-1": stat(0.50, 0.01), "n_mca-2": stat(0.40, 0.01),
            "n_mca-3": stat(0.45, 0.1), "n_mca-4": stat(0.42, 0.01), "n_mca-5": stat(0.30, 0.01)}
    best_two = catalogue.Claim("2 or 4 best", ("n_mca-2", "n_mca-4"),
                               ("n_mca-1", "n_mca-3", "n_mca-5"), "greater")
    judged = claims.judge(best_two, rows, "hit@5")
    assert (judged.better, judged.worse) == ("n_mca-4", "n_mca-1")
    assert (judged.mean_better, judged.sd_worse) == (0.42, 0.01)
    assert judged.verdict == claims.NO_OUTCOMES and judged.p is None


def test_catalogue_follows_the_dataset_and_the_paper():
    _, configs, claim_list = catalogue.plan("table3", "amazon", ["image", "text"])
    assert len(configs) == 10 and len(claim_list) == 13
    _, configs, claim_list = catalogue.plan("table5", "taobao", ["image"])
    assert [c.name for c in configs] == ["n_mca-%d" % n for n in range(1, 6)]
    assert claim_list[0].better == ("n_mca-4",) and "n_mca-4" not in claim_list[0].worse
    _, configs, claim_list = catalogue.plan("gcn_layers", "demo", ["image", "text"])
    assert len(configs) == 6 and claim_list[0].better == ("n_layers-4", "n_layers-5")
    _, configs, _ = catalogue.plan("table4", "art", ["image", "text"])
    assert [paper.numbers("table4", "art", c.paper_row)["hit@5"] for c in configs] == \
        [0.7067, 0.7110, 0.7168]
    _, configs, claim_list = catalogue.plan("table2", "taobao", ["image"])
    assert configs[0].name == "mcln" and all(c.text.startswith("MCLN > ") for c in claim_list)
    assert len(claim_list) == len(configs) - 1


def runner_args(name, data_path, out, *extra):
    return [name, "--dataset", "tiny", "--data_path", str(data_path), "--out", str(out),
            "--epochs", "3"] + list(extra)


def started_lines(capsys):
    return [l for l in capsys.readouterr().out.splitlines() if "] started " in l]


def test_finished_runs_are_skipped_and_settings_checked(tmp_path, capsys):
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    common = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                         "image")
    argv = common + ["--seeds", "0,1", "--workers", "2"]
    assert run_main(argv, trainer) == 0
    assert len(started_lines(capsys)) == 8  # base, v, v_cl, full x two seeds
    out_dir = tmp_path / "out" / "table3" / "tiny"
    rows = read_csv(str(out_dir / "summary.csv"))
    assert float(rows["v_cl"]["hit@5_mean"]) == pytest.approx(0.105)
    with open(str(out_dir / "v" / "seed-1" / "results.json")) as f:
        recorded = json.load(f)["hyperparameters"]["flags"]
    assert recorded[-4:] == ["--variant", "v", "--seed", "1"]
    assert run_main(argv, trainer) == 0
    assert started_lines(capsys) == []  # everything finished: nothing trains
    # More epochs extend the finished runs; other settings are refused.
    with pytest.raises(InputError, match="was run with other settings"):
        run_main(argv + ["--lr", "0.5"], trainer)
    assert run_main(common + ["--seeds", "0", "--configs", "base", "--epochs", "4"],
                    trainer) == 0
    assert [l.split("] ")[1][:26] for l in started_lines(capsys)] == \
        ["started base seed 0 (exten"]


def test_a_run_finished_by_another_experiment_is_copied_not_trained(tmp_path, capsys):
    """Table 4's full model is Table 3's: same flags, same seed, so it is reused."""
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    common = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities", "image")
    assert run_main(common, trainer) == 0
    capsys.readouterr()
    table4 = ["table4"] + common[1:]
    assert run_main(table4, trainer) == 0
    printed = capsys.readouterr().out
    assert [l.split("] ")[1].split(" (")[0] for l in printed.splitlines() if "] started " in l] \
        == ["started no_intra seed 0", "started no_inter seed 0"]
    assert "reused full seed 0: the same settings finished in %s" % os.path.join(
        "table3", "tiny", "full", "seed-0") in printed
    copied = tmp_path / "out" / "table4" / "tiny" / "full" / "seed-0"
    original = tmp_path / "out" / "table3" / "tiny" / "full" / "seed-0"
    assert (copied / "results.json").read_text() == (original / "results.json").read_text()
    assert (copied / "checkpoints" / "epoch.txt").read_text() == "3"
    assert read_csv(str(tmp_path / "out" / "table4" / "tiny" / "summary.csv"))["full"][
        "n"] == "1"
    # Another seed has no twin; --no_reuse trains even where one exists.
    assert run_main(table4 + ["--seeds", "1", "--configs", "full"], trainer) == 0
    assert "reused" not in capsys.readouterr().out
    assert run_main(["table4"] + runner_args("x", tmp_path / "data", tmp_path / "out2",
                                             "--modalities", "image")[1:], trainer) == 0
    assert run_main(["table3"] + runner_args("x", tmp_path / "data", tmp_path / "out2",
                                             "--modalities", "image", "--no_reuse")[1:],
                    trainer) == 0
    printed = capsys.readouterr().out
    assert "reused" not in printed and "started full seed 0" in printed


def test_a_twin_finished_while_the_runner_waits_is_copied_when_its_turn_comes(
        tmp_path, capsys, monkeypatch):
    """Two tables run at once: Table 4 finishes the full model while Table 3 trains Base;
    when Table 3 reaches its full model it copies that run instead of training it again."""
    from experiments import local
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    table3 = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                         "image", "--configs", "base,full")
    table4 = ["table4"] + table3[1:-2] + ["--configs", "full"]
    start = local.start

    def start_after_the_other_table(run, trainer):
        if run.config.name == "base":  # the other runner finishes its full model meanwhile
            assert run_main(table4, trainer) == 0
        return start(run, trainer)

    monkeypatch.setattr(local, "start", start_after_the_other_table)
    assert run_main(table3, trainer) == 0
    printed = capsys.readouterr().out
    table3_lines = [l for l in printed.splitlines() if l.startswith("[table3/tiny]")]
    assert "2 runs (2 configurations x 1 seeds): 0 finished, 2 to train" in table3_lines[0]
    assert [l.split("] ")[1].split(" (")[0] for l in table3_lines if "] started " in l] == \
        ["started base seed 0"]
    assert "[table3/tiny] reused full seed 0: the same settings finished in %s" % os.path.join(
        "table4", "tiny", "full", "seed-0") in table3_lines
    assert [l.split("] ")[1].split(" ")[0] for l in table3_lines[1:4]] == \
        ["started", "finished", "reused"]
    copied = tmp_path / "out" / "table3" / "tiny" / "full" / "seed-0" / "results.json"
    original = tmp_path / "out" / "table4" / "tiny" / "full" / "seed-0" / "results.json"
    assert copied.read_text() == original.read_text()
    assert read_csv(str(tmp_path / "out" / "table3" / "tiny" / "summary.csv"))["full"][
        "n"] == "1"


def test_grid_runs_every_combination_and_chooses_on_validation(tmp_path, capsys):
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    argv = runner_args("grid", tmp_path / "data", tmp_path / "out", "--modalities", "image",
                       "--model", "bprmf", "--valid", "--seeds", "0,1",
                       "--grid", "decay=0.01,0.1", "--grid", "lr=1e-3,1e-2")
    assert run_main(argv, trainer) == 0
    out_dir = tmp_path / "out" / "grid-bprmf" / "tiny"
    names = ["decay-0.01_lr-1e-3", "decay-0.01_lr-1e-2", "decay-0.1_lr-1e-3",
             "decay-0.1_lr-1e-2"]
    assert sorted(os.listdir(str(out_dir))) == sorted(
        names + ["claims.csv", "summary.csv", "summary.md", "summary.png"])
    with open(str(out_dir / "decay-0.1_lr-1e-2" / "seed-1" / "results.json")) as f:
        recorded = json.load(f)["hyperparameters"]["flags"]
    assert recorded[-6:] == ["--decay", "0.1", "--lr", "1e-2", "--seed", "1"]
    printed = capsys.readouterr().out
    # Validation (0.2 + decay + 0.01 seed) chooses decay 0.1, although test says otherwise;
    # the two lr cells tie and keep the order of the grid.
    assert "chosen on validation HR@10: decay=0.1, lr=1e-3 (0.3050 of 4 finished cells" \
        in printed
    section = (out_dir / "summary.md").read_text().split("## Chosen on validation")[1]
    assert "| **decay=0.1, lr=1e-3** | 2 | 0.3050 ± 0.0071 | 0.2000 ± 0.0000 | 3 (2) |" \
        in section
    assert "| decay=0.01, lr=1e-2 | 2 | 0.2150 ± 0.0071 | 0.2900 ± 0.0000 | 3 (2) |" in section
    assert "Not finished: none." in section
    assert "On the grid's edge: --decay 0.1 is the largest that finished with --lr 1e-3; " \
           "--lr 1e-3 is the smallest that finished with --decay 0.1; a value beyond it may " \
           "do better." in section
    assert "(0.3050 of 4 finished cells; on the grid's edge along --decay, --lr)" in printed


def test_explore_walks_to_a_local_best_then_confirms_the_top_cells(tmp_path, capsys):
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    # Validation is 0.2 + decay + 0.01 seed: it rises along decay, and lr does not matter.
    argv = runner_args("grid", tmp_path / "data", tmp_path / "out", "--model", "bprmf",
                       "--valid", "--seeds", "0,1", "--grid", "lr=1e-3,1e-2",
                       "--grid", "decay=1e-3,1e-2,1e-1,3e-1", "--explore", "--confirm", "2",
                       "--lr", "1e-2", "--decay", "1e-2")
    with pytest.raises(InputError, match="--lr is set by the runner"):
        run_main(argv, trainer)  # the start comes from the presets, not from the grid's flags
    argv = argv[:-4]
    assert run_main(argv + ["--plan"], trainer) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "[grid-bprmf/tiny] next step of the search: the start cell (the model's settings)",
        "[grid-bprmf/tiny] lr-1e-3_decay-1e-1 seed 0: new"]
    assert run_main(argv, trainer) == 0
    out_dir = tmp_path / "out" / "grid-bprmf" / "tiny"
    printed = capsys.readouterr().out
    steps = [line.split("search: ")[1] for line in printed.splitlines() if "search: " in line]
    # bprmf's preset is lr 1e-3 and decay 1e-1; each step moves to the best cell so far (of
    # two equal ones, the first in the grid's order).
    assert steps == ["the start cell (the model's settings)",
                     "the untried neighbours of the best cell so far, lr=1e-3, decay=1e-1",
                     "the untried neighbours of the best cell so far, lr=1e-3, decay=3e-1",
                     "the 2 best cells on seed 0, on every seed"]
    ran = sorted((os.path.basename(os.path.dirname(path)), os.path.basename(path)) for path in
                 glob.glob(str(out_dir / "*" / "seed-*")))
    assert ran == [("lr-1e-2_decay-1e-1", "seed-0"), ("lr-1e-2_decay-3e-1", "seed-0"),
                   ("lr-1e-2_decay-3e-1", "seed-1"), ("lr-1e-3_decay-1e-1", "seed-0"),
                   ("lr-1e-3_decay-1e-2", "seed-0"), ("lr-1e-3_decay-3e-1", "seed-0"),
                   ("lr-1e-3_decay-3e-1", "seed-1")]
    assert "chosen on validation HR@10: lr=1e-3, decay=3e-1 (0.5050 of 5 finished cells" \
        in printed
    # Run again, the search is read from disk: nothing is trained.
    assert run_main(argv, trainer) == 0
    assert started_lines(capsys) == []
    assert run_main(argv + ["--plan"], trainer) == 0
    assert "0 to train" in capsys.readouterr().out


def test_explore_steps_start_neighbours_and_end():
    from experiments import explore
    axes = [("--lr", ["1e-3", "1e-2", "1e-1"]), ("--decay", ["0", "1e-4", "1e-2"])]
    assert explore.start_cell(axes, {"lr": 0.01, "decay": 0.0}) == (1, 0)
    assert explore.start_cell(axes, {"lr": 0.5, "decay": 1e-3}) == (1, 1)  # not listed: middle
    assert sorted(explore.neighbours((1, 0), axes)) == [(0, 0), (1, 1), (2, 0)]
    assert sorted(explore.neighbours((2, 2), axes)) == [(1, 2), (2, 1)]
    _, configs, _ = catalogue.plan("grid", "tiny", ["image"], axes)
    name = {explore.cell_of(config, axes): config.name for config in configs}
    step = explore.next_step(axes, configs, {}, (1, 0), [0], 3)
    assert [c.name for c in step[0]] == [name[1, 0]] and step[1] == [0]
    scores = {name[1, 0]: 0.5, name[0, 0]: 0.4, name[2, 0]: 0.6, name[1, 1]: 0.3}
    step = explore.next_step(axes, configs, scores, (1, 0), [0], 3)
    assert sorted(c.name for c in step[0]) == [name[2, 1]]  # (1, 0) is done already
    scores[name[2, 1]] = 0.55
    assert explore.next_step(axes, configs, scores, (1, 0), [0], 3) is None  # one seed: over
    step = explore.next_step(axes, configs, scores, (1, 0), [0, 1, 2], 2)
    assert [c.name for c in step[0]] == [name[2, 0], name[2, 1]] and step[1] == [0, 1, 2]


def test_grid_edges_look_along_each_flag_with_the_others_held():
    from experiments.grid import Cell, grid_edges
    from experiments.catalogue import Config

    def cell(lr, decay, layers="2"):
        flags = (("--lr", lr), ("--decay", decay), ("--n_layers", layers))
        return Cell(Config("c", "c", flags, None, None), "hit@10", (0, 0), (0, 0), 1, 1, {0: 0})

    grid = [cell(lr, decay) for lr in ("1e-3", "1e-2", "1e-1") for decay in ("1e-3", "1e-2")]
    configs = [c.config for c in grid]
    # lr 1e-2 sits between 1e-3 and 1e-1; decay 1e-3 is the smallest; n_layers not varied.
    assert grid_edges(grid[2], grid, configs) == [("--decay", "smallest")]
    assert grid_edges(grid[5], grid, configs) == [("--lr", "largest"), ("--decay", "largest")]
    # An unfinished neighbour does not count: only lr 1e-2 finished along decay 1e-2.
    finished = [c for c in grid if c.config.flags[1][1] == "1e-3"] + [grid[3]]
    assert grid_edges(grid[3], finished, configs) == [("--lr", "only"), ("--decay", "largest")]
    # Values that are not numbers have no order, so no edge.
    words = [cell("1e-2", "1e-3", layers) for layers in ("few", "many")]
    assert grid_edges(words[0], words, [c.config for c in words]) == []


def test_a_grid_is_decided_by_the_cells_run_on_the_most_seeds():
    from experiments.grid import Cell, choice_text, choose
    from experiments.catalogue import Config

    def cell(name, by_seed):
        values = list(by_seed.values())
        return Cell(Config(name, name, (("--lr", name),), None, None), "hit@10",
                    (sum(values) / len(values), 0.0), (0, 0), 1, 1, by_seed)

    # Seed 0 ranked a above b and c; b and c were then run on three seeds, and b's mean wins.
    # d, run on seed 0 only, leads b there (0.66 > 0.65): it must be compared before choosing.
    a = cell("a", {0: 0.70})
    b = cell("b", {0: 0.65, 1: 0.68, 2: 0.67})
    c = cell("c", {0: 0.64, 1: 0.66, 2: 0.65})
    d = cell("d", {0: 0.66})
    ranked = sorted([a, b, c, d], key=lambda one: -one.validation[0])
    chosen, challengers = choose(ranked)
    assert chosen is b and challengers == [a, d]
    assert choice_text(chosen, challengers, ranked) == (
        " Chosen among the cells run on 3 seeds; a cell on fewer seeds ranks by those alone. "
        "a and d lead it on the seeds both ran: run them on 3 seeds before choosing.")
    # Once no cell on fewer seeds leads, the sentence only says how it was chosen; with
    # equal seeds everywhere the best mean is chosen and nothing is added.
    chosen, challengers = choose([b, c, cell("e", {0: 0.60})])
    assert (chosen, challengers) == (b, [])
    assert choose([a, d]) == (a, []) and choice_text(a, [], [a, d]) == ""


@pytest.mark.parametrize("extra, message", [
    ([], "the grid experiment needs --grid FLAG=V1,V2"),
    (["--valid", "--grid", "decay"], "--grid 'decay': give FLAG=V1,V2,..."),
    (["--valid", "--grid", "decay=1e-2,1e-2"], "--grid --decay lists a value twice"),
    (["--valid", "--grid", "decay=1e-2", "--grid=--decay=0.1"],
     "--grid --decay is given twice"),
    (["--valid", "--grid", "decay=a/b"], "--grid --decay: a value names a folder"),
    (["--grid", "decay=1e-2,1e-1"], "the grid experiment chooses on validation: add --valid"),
    (["--valid", "--grid", "decay=1e-2", "--decay", "0.1"],
     "--decay is set by the runner (grid varies it); drop it"),
])
def test_grid_command_line_errors(tmp_path, extra, message):
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    with pytest.raises(InputError) as raised:
        run_main(runner_args("grid", tmp_path / "data", tmp_path / "out", "--modalities",
                             "image", *extra), trainer)
    assert str(raised.value).startswith(message)
    with pytest.raises(InputError, match="--grid is for the grid experiment, not table3"):
        run_main(runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                             "image", "--grid", "decay=0.1"), trainer)


def runner_script(tmp_path, argv):
    """A process running the runner with the stand-in trainer; it prints whether ray was
    imported once it is done."""
    _, path = fake_trainer(tmp_path)
    code = textwrap.dedent('''
        import importlib.util, sys
        sys.path.insert(0, %r)
        from experiments.run import main
        from utility.common.errors import stop_on_sigterm
        from experiments.runs import Trainer
        spec = importlib.util.spec_from_file_location("fake_main", %r)
        fake = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fake)
        stop_on_sigterm()
        status = main(%r, Trainer([sys.executable, %r], fake.hyperparameters))
        print("ray imported:", "ray" in sys.modules)
        sys.exit(status)
    ''') % (REPO, path, argv, path)
    return [sys.executable, "-c", code]


def wait_for(path, process, seconds=120):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "%s never appeared" % path
        time.sleep(0.1)


def test_killed_runner_resumes_the_interrupted_run(tmp_path, capsys):
    tiny_data(str(tmp_path / "data" / "tiny"))
    argv = runner_args("table5", tmp_path / "data", tmp_path / "out", "--configs",
                       "n_mca-1,n_mca-2")
    out_dir = tmp_path / "out" / "table5" / "tiny"
    env = dict(os.environ, FAKE_HANG="n_mca-2")  # that run hangs after epoch 1
    process = subprocess.Popen(runner_script(tmp_path, argv), env=env, cwd=str(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
    wait_for(str(out_dir / "n_mca-2" / "seed-0" / "hung"), process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output  # SIGTERM's status, as main.py's
    assert "terminated: the runs going were stopped" in output
    assert os.path.exists(str(out_dir / "n_mca-1" / "seed-0" / "results.json"))
    interrupted = out_dir / "n_mca-2" / "seed-0"
    assert not os.path.exists(str(interrupted / "results.json"))
    assert (interrupted / "checkpoints" / "epoch.txt").read_text() == "1"

    process = subprocess.run(runner_script(tmp_path, argv), cwd=str(tmp_path),
                             stdout=subprocess.PIPE, universal_newlines=True)
    assert process.returncode == 0, process.stdout
    started = [l for l in process.stdout.splitlines() if "] started " in l]
    assert len(started) == 1 and "started n_mca-2 seed 0 (resume;" in started[0]
    with open(str(interrupted / "results.json")) as f:
        assert json.load(f)["resumed_after_epoch"] == 1
    log = (interrupted / "log.txt").read_text()
    assert log.count("experiments runner:") == 2 and "resumed from epoch 1" in log
    assert (out_dir / "n_mca-1" / "seed-0" / "log.txt").read_text().count(
        "experiments runner:") == 1
    assert "ray imported: False" in process.stdout  # the local backend never needs Ray


def test_a_run_whose_twin_is_training_elsewhere_waits_for_it_and_is_copied(
        tmp_path, capsys, monkeypatch):
    from experiments import local
    from experiments import run as run_module
    from experiments.runs import twin_in_training
    monkeypatch.setattr(local, "WAIT_RECHECK_SECONDS", 0.1)
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    table3 = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                         "image", "--configs", "full")
    twin = tmp_path / "out" / "table3" / "tiny" / "full" / "seed-0"
    # One runner trains Table 3's full model and hangs in it, holding its lock ...
    lane = subprocess.Popen(runner_script(tmp_path, table3), cwd=str(tmp_path),
                            env=dict(os.environ, FAKE_HANG="table3"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        wait_for(str(twin / "hung"), lane)
        # ... while another, asked for Table 4 (whose full model is the same run), trains its
        # other rows first, then waits; the twin goes on once it was found training (not
        # before, whatever the machine's speed), finishes, and is copied.
        def found_then_let_go(run, **where):
            training = twin_in_training(run, **where)
            if training:
                (twin / "go_on").touch()
            return training

        monkeypatch.setattr(run_module, "twin_in_training", found_then_let_go)
        table4 = ["table4"] + table3[1:-2]
        assert run_main(table4, trainer) == 0
    finally:
        output, _ = lane.communicate(timeout=60)
    assert lane.returncode == 0, output
    printed = capsys.readouterr().out
    assert "[table4/tiny] full seed 0 waits: the same settings are training in %s\n" % twin \
        in printed
    assert "[table4/tiny] reused full seed 0: the same settings finished in %s" % os.path.join(
        "table3", "tiny", "full", "seed-0") in printed
    assert printed.index(" waits: ") < printed.index("reused")
    copied = tmp_path / "out" / "table4" / "tiny" / "full" / "seed-0"
    assert (copied / "log.txt").read_text().count("experiments runner:") == 1  # trained once
    assert "started full" not in printed


def test_a_waiting_run_lets_the_others_go_first(tmp_path, monkeypatch):
    from experiments import local
    from experiments.runs import Run
    monkeypatch.setattr(local, "WAIT_RECHECK_SECONDS", 0.05)
    trainer, _ = fake_trainer(tmp_path)
    first, second = (Run(catalogue.Config(name, name, (), None, None), 0,
                         str(tmp_path / name), ["--seed", "0", "--out_dir", str(tmp_path / name)],
                         {}, "new") for name in ("first", "second"))
    looks = []  # the twin of ``first`` trains for its first two looks, then has finished

    def busy(run):
        looks.append(run.config.name)
        return "elsewhere" if run is first and looks.count("first") <= 2 else None

    def reuse(run):
        return "copied first" if run is first and looks.count("first") == 2 else None

    from experiments.progress import Progress
    progress = Progress("t", 2, 1, stream=io.StringIO())
    assert local.run_local([first, second], 1, trainer, progress, poll_seconds=0.01,
                           reuse=reuse, busy=busy) == []
    said = progress.stream.getvalue()
    assert said.count("first seed 0 waits: the same settings are training in elsewhere") == 1
    assert said.index("started second") < said.index("finished second") < said.index(
        "copied first")
    assert "started first" not in said and looks == ["first", "second", "first"]


def test_a_twin_in_training_is_found_by_its_lock_and_exact_settings(tmp_path):
    from experiments.runs import Run, plan_lines, twin_in_training
    from utility.run.run_lock import RunLock
    trainer, path = fake_trainer(tmp_path)
    argv = ["--lr", "0.1", "--seed", "0", "--epochs", "3"]
    twin = tmp_path / "out" / "table3" / "tiny" / "full" / "seed-0"
    run = Run(catalogue.Config("full", "full", (), None, None), 0, str(tmp_path / "out" / "table4" / "tiny" / "full" / "seed-0"), argv,
              trainer.hyperparameters(argv + ["--out_dir", "x"]), "new")

    def command(flags):  # what the twin's lock records: its process's command line
        (twin / ".run.lock").write_text(json.dumps({"command": " ".join(
            [sys.executable, path] + flags + ["--out_dir", str(twin)])}))

    find = functools.partial(twin_in_training, out_root=str(tmp_path / "out"),
                             dataset="tiny", hyperparameters=trainer.hyperparameters)
    with RunLock(str(twin)):
        command(argv)
        assert find(run) == str(twin)
        assert plan_lines([run], str(tmp_path / "out"), "tiny", True,
                          trainer.hyperparameters) == [
            "full seed 0: wait for %s, training now, then copy it"
            % os.path.join("table3", "tiny", "full", "seed-0"),
            "1 runs: 0 finished, 0 to copy, 1 waiting for a twin in training, 0 to train; "
            "nothing was trained, copied or written"]
        assert find(run._replace(state="resume")) is None  # it has its own checkpoint
        command(["--lr", "0.01"] + argv[2:])  # other settings
        assert find(run) is None
        command(argv[:-1] + ["5"])  # another --epochs: not the same run
        assert find(run) is None
        (twin / ".run.lock").write_text("")  # just taken: details not written yet
        assert find(run) is None
        command(argv)
    assert find(run) is None  # the lock is free: nothing trains there


@pytest.mark.parametrize("argv, message", [
    (["tablex", "--dataset", "demo"], "error: unknown experiment 'tablex'; choose one of "
                                      "table2, table3, table4, table5, gcn_layers, "
                                      "formulation"),
    (["table3", "--dataset", "nosuch", "--data_path", "nowhere"],
     "error: unknown dataset 'nosuch': not a preset"),
    (["table5", "--dataset", "demo", "--n_mca", "3"],
     "error: --n_mca is set by the runner (table5 varies it); drop it"),
])
def test_command_line_errors_are_one_line(argv, message):
    process = subprocess.run([sys.executable, "-m", "experiments.run"] + argv, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert process.returncode == 2
    assert len(process.stderr.strip().splitlines()) == 1
    assert process.stderr.startswith(message)


def make_tiny_demo(folder):
    from utility.data.demo import make_demo
    make_demo(folder, seed=0, n_users=40, n_items=100, log=lambda *a: None)


TINY_FLAGS = ["--embed_size", "4", "--batch_size", "16", "--eval_interval", "1",
              "--valid", "--eval_users_per_call", "8"]


def test_real_runs_of_a_sweep(tmp_path, capsys):
    make_tiny_demo(str(tmp_path / "data" / "tiny"))
    argv = runner_args("gcn_layers", tmp_path / "data", tmp_path / "out", "--configs",
                       "n_layers-1,n_layers-4", "--workers", "2", "--epochs", "2",
                       *TINY_FLAGS)
    assert run_main(argv) == 0
    assert len(started_lines(capsys)) == 2
    out_dir = tmp_path / "out" / "gcn_layers" / "tiny"
    rows = read_csv(str(out_dir / "summary.csv"))
    for name, layers in (("n_layers-1", 1), ("n_layers-4", 4)):
        with open(str(out_dir / name / "seed-0" / "results.json")) as f:
            made = json.load(f)
        assert made["hyperparameters"]["n_layers"] == layers
        assert float(rows[name]["hit@5_mean"]) == pytest.approx(made["test_at_best"]["hit@5"],
                                                                abs=1e-6)
        assert rows[name]["source"] == "test_at_best" and rows[name]["n"] == "1"
    assert rows["n_layers-3"]["n"] == "0"
    markdown = (out_dir / "summary.md").read_text()
    assert "Figure 4: GCN layers on tiny" in markdown
    assert "| n_layers=4 or 5 best (the paper's best on its datasets) | HR@5 | n_layers=4 " \
        in markdown and "| Holm p | verdict |" in markdown
    assert run_main(argv) == 0
    assert started_lines(capsys) == []


def test_ray_backend_runs_two_demo_trials(tmp_path, capsys):
    pytest.importorskip("ray")
    from experiments.ray_backend import connect
    make_tiny_demo(str(tmp_path / "data" / "tiny"))
    ray = connect(num_cpus=2)
    try:
        argv = runner_args("table5", tmp_path / "data", tmp_path / "out", "--configs",
                           "n_mca-1,n_mca-2", "--workers", "2", "--epochs", "2",
                           "--backend", "ray", "--asha", *TINY_FLAGS)
        assert run_main(argv) == 0
    finally:
        ray.shutdown()
    out_dir = tmp_path / "out" / "table5" / "tiny"
    assert len(started_lines(capsys)) == 2
    # Tune received the metrics of every evaluation; ASHA may have stopped a trial after
    # its first, and such a run still has its results.json, at the epoch it stopped.
    reported = glob.glob(str(out_dir / ".ray" / "**" / "result.json"), recursive=True)
    assert len(reported) == 2
    for name in ("n_mca-1", "n_mca-2"):
        directory = out_dir / name / "seed-0"
        with open(str(directory / "results.json")) as f:
            epochs_run = json.load(f)["epochs_run"]
        stopped = directory / "stopped.json"
        assert epochs_run == (json.loads(stopped.read_text())["epoch"] if stopped.exists()
                              else 2)
        assert "Epoch %d" % epochs_run in (directory / "log.txt").read_text()
    for path in reported:
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        assert [r["epoch"] for r in records] in ([1], [1, 2])
        assert all(0 <= r["valid_hit@10"] <= 1 for r in records)
    assert read_csv(str(out_dir / "summary.csv"))["n_mca-2"]["n"] == "1"


def test_features_line_reads_npy_and_text_feature_files(tmp_path):
    from experiments.machine import describe_features
    np.save(str(tmp_path / "item2imgfeat.npy"), np.zeros((3, 7), np.float32))
    (tmp_path / "itemtitle2vec.txt").write_text("0 0.1 0.2 0.3\n")
    line = describe_features("mine", str(tmp_path), ["image", "text"])
    assert "image 7-d, text 3-d" in line


def test_time_left_weighs_runs_by_their_configurations_cost():
    """Cheap runs first, a heavy one last: the estimate scales by the configurations' relative
    cost and start-up (the mean of the runs so far would say 52 s, then 40 s)."""
    import io
    import types
    from experiments.progress import Progress, epoch_cost
    assert (epoch_cost({"model": "mcln", "variant": "full", "modalities": "image", "n_mca": 4}),
            epoch_cost({"model": "mcln", "variant": "v_cl", "modalities": "image", "n_mca": 4}),
            epoch_cost({"model": "mcln", "variant": "base", "modalities": "image", "n_mca": 4}),
            epoch_cost({"model": "lightgcn"})) == (38.0, 20.0, 2.0, 1.2)
    runs = [types.SimpleNamespace(config=types.SimpleNamespace(name=model), seed=0,
                                  directory=model, state="new",
                                  settings={"model": model, "epochs": epochs})
            for model, epochs in (("bprmf", 10), ("lightgcn", 10), ("vbpr", 100))]
    now = [0.0]
    stream = io.StringIO()
    progress = Progress("t", 3, 1, stream=stream, clock=lambda: now[0], runs=runs)
    progress.started(runs[0])
    now[0] = 26.0
    progress.finished(runs[0])
    # Costs 6, 12, 170; start-up half the shortest run (13 s), unit (26 - 13) / 6 s:
    # 13 + 12 x 13/6 + 13 + 170 x 13/6 = 420.3 s.
    assert stream.getvalue().splitlines()[-1].endswith("estimate: about 7m00s left)")
    progress.started(runs[1])
    now[0] = 66.0
    progress.finished(runs[1])
    # Fitted to (6, 26 s) and (12, 40 s): 12 s + 7/3 s per unit; vbpr: 12 + 170 x 7/3.
    assert stream.getvalue().splitlines()[-1].endswith("estimate: about 6m49s left)")
    progress.started(runs[2])
    now[0] = 166.0  # 100 s into it
    assert progress.estimate() == "estimate: about 5m09s left"


def _table3_with_full_stopped_early(tmp_path):
    """Table 3's Base and full model run with --epochs 2, the full model's results.json
    then saying it stopped early at epoch 1: (trainer, the runner's argv, that file, its
    contents)."""
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    table3 = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                         "image", "--configs", "base,full", "--epochs", "2")
    assert run_main(table3, trainer) == 0
    path = tmp_path / "out" / "table3" / "tiny" / "full" / "seed-0" / "results.json"
    stopped = json.loads(path.read_text())
    stopped["stopped_early_at_epoch"] = 1
    path.write_text(json.dumps(stopped))
    return trainer, table3, path, stopped


def test_a_twin_that_stopped_early_under_a_smaller_cap_is_reused(tmp_path, capsys):
    """A grid cell run with --epochs 2 that stopped early is Table 4's full model at
    --epochs 4 (same patience: it stops at the same epoch); one that ran to its cap is not."""
    trainer, table3, _, stopped = _table3_with_full_stopped_early(tmp_path)
    capsys.readouterr()
    table4 = ["table4"] + table3[1:-4] + ["--epochs", "4"]
    assert run_main(table4, trainer) == 0
    printed = capsys.readouterr().out
    assert "reused full seed 0: the same settings finished in %s (stopped early at epoch 1 " \
           "of its 2; --epochs 4 stops there too)" % os.path.join(
               "table3", "tiny", "full", "seed-0") in printed
    copied = json.loads((tmp_path / "out" / "table4" / "tiny" / "full" / "seed-0" /
                         "results.json").read_text())
    assert copied["hyperparameters"]["epochs"] == 4
    assert copied["best"] == stopped["best"] and copied["stopped_early_at_epoch"] == 1
    # A full model that ran to its cap of 2 is not a 4-epoch run: Table 4 trains its own.
    elsewhere = [str(tmp_path / "out2") if part == str(tmp_path / "out") else part
                 for part in table3]
    assert run_main(elsewhere, trainer) == 0
    assert run_main(["table4"] + elsewhere[1:-4] + ["--epochs", "4"], trainer) == 0
    printed = capsys.readouterr().out
    assert "reused" not in printed and "started full seed 0" in printed


def test_a_run_that_stopped_early_under_a_smaller_cap_is_kept_not_extended(tmp_path, capsys):
    """Table 3 again with a larger --epochs: its own run that stopped early (same patience)
    is finished as it is, recorded with the new cap; one that reached its cap is extended."""
    trainer, table3, path, stopped = _table3_with_full_stopped_early(tmp_path)
    capsys.readouterr()
    assert run_main(table3[:-1] + ["4"], trainer) == 0
    printed = capsys.readouterr().out
    assert "kept full seed 0 as finished (stopped early at epoch 1 of its 2; --epochs 4 " \
           "stops there too)" in printed
    assert "started full seed 0" not in printed and "started base seed 0 (extend" in printed
    kept = json.loads(path.read_text())
    assert kept["hyperparameters"]["epochs"] == 4 and kept["best"] == stopped["best"]
    # --no_reuse (no copies from other experiments) keeps it the same way.
    assert run_main(table3[:-1] + ["6", "--no_reuse"], trainer) == 0
    assert "kept full seed 0 as finished (stopped early at epoch 1 of its 4; --epochs 6 " \
           "stops there too)" in capsys.readouterr().out


def test_state_counts_a_run_stopped_early_under_a_smaller_cap_as_finished(tmp_path):
    """runs.state: stopped early at the same patience -> finished whatever larger cap is
    asked; ran to its cap, or asked with another patience -> extend; a smaller cap refused."""
    directory = tmp_path / "run"
    directory.mkdir()
    settings = {"lr": 0.01, "epochs": 2, "patience": 3}
    results = {"hyperparameters": settings, "best": {"epoch": 1}}
    (directory / "results.json").write_text(json.dumps(results))
    assert state(str(directory), settings) == "finished"
    assert state(str(directory), dict(settings, epochs=4)) == "extend"
    (directory / "results.json").write_text(json.dumps(dict(results, stopped_early_at_epoch=1)))
    assert state(str(directory), dict(settings, epochs=4)) == "finished"
    assert state(str(directory), dict(settings, epochs=4, patience=5)) == "extend"
    with pytest.raises(InputError, match="already ran 2 epochs, more than --epochs 1"):
        state(str(directory), dict(settings, epochs=1))
    with pytest.raises(InputError, match=r"other settings \(lr 0.01, now 0.1\)"):
        state(str(directory), dict(settings, lr=0.1, epochs=4))


def test_a_twin_trained_under_another_name_of_the_same_model_is_copied(tmp_path):
    """Table 4's no_inter is Table 3's vt on image and text data: the finished vt run is
    copied and recorded as no_inter (trained_as_variant says what ran); vt_cl is another
    model and finds no twin."""
    from experiments.main_flags import main_hyperparameters
    from experiments.runs import Run, copy_finished_twin

    def run(experiment, variant):
        settings = main_hyperparameters(["--dataset", "ml100k", "--valid", "--seed", "0",
                                         "--variant", variant])
        directory = tmp_path / experiment / "ml100k" / variant / "seed-0"
        config = catalogue.Config(variant, variant, (("--variant", variant),), None, None)
        return Run(config, 0, str(directory), [], settings, "new")

    trained = run("table3", "vt")
    os.makedirs(trained.directory)
    finished = dict(results(0.4, 0.3), variant="vt", hyperparameters=trained.settings)
    with open(os.path.join(trained.directory, "results.json"), "w") as f:
        json.dump(finished, f)
    no_inter = run("table4", "no_inter")
    line = copy_finished_twin(no_inter, str(tmp_path), "ml100k")
    assert line == "reused no_inter seed 0: the same settings finished in %s (as variant vt, " \
                   "the same model on image,text data)" % os.path.join(
                       "table3", "ml100k", "vt", "seed-0")
    with open(os.path.join(no_inter.directory, "results.json")) as f:
        copied = json.load(f)
    assert copied["variant"] == copied["hyperparameters"]["variant"] == "no_inter"
    assert copied["trained_as_variant"] == "vt" and copied["best"] == finished["best"]
    assert state(no_inter.directory, no_inter.settings) == "finished"
    assert copy_finished_twin(run("table4", "vt_cl"), str(tmp_path), "ml100k") is None


def test_plan_lists_what_a_call_would_do_and_touches_nothing(tmp_path, capsys):
    trainer, _ = fake_trainer(tmp_path)
    tiny_data(str(tmp_path / "data" / "tiny"), text=False)
    table3 = runner_args("table3", tmp_path / "data", tmp_path / "out", "--modalities",
                         "image", "--configs", "base,full")
    assert run_main(table3 + ["--plan"], trainer) == 0
    assert capsys.readouterr().out.splitlines() == [
        "[table3/tiny] base seed 0: new", "[table3/tiny] full seed 0: new",
        "[table3/tiny] 2 runs: 0 finished, 0 to copy, 2 to train (2 new); nothing was "
        "trained, copied or written"]
    assert not (tmp_path / "out").exists()

    assert run_main(table3, trainer) == 0
    checkpoints = tmp_path / "out" / "table3" / "tiny" / "base" / "seed-1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    capsys.readouterr()
    assert run_main(table3 + ["--seeds", "0,1", "--plan"], trainer) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "[table3/tiny] base seed 1: resume", "[table3/tiny] full seed 1: new",
        "[table3/tiny] 4 runs: 2 finished, 0 to copy, 2 to train (1 new, 1 resume); nothing "
        "was trained, copied or written"]
    (checkpoints / "last.json").write_text('{"directory": "epoch-000002", "epoch": 2}')
    assert run_main(table3 + ["--seeds", "0,1", "--epochs", "5", "--plan"], trainer) == 0
    assert capsys.readouterr().out.splitlines()[-4:-1] == [
        "[table3/tiny] full seed 0: extend from 3 to 5 epochs",
        "[table3/tiny] base seed 1: resume after epoch 2 of 5",
        "[table3/tiny] full seed 1: new"]
    table4 = ["table4"] + table3[1:-2]
    assert run_main(table4 + ["--plan"], trainer) == 0
    printed = capsys.readouterr().out
    assert "[table4/tiny] full seed 0: copy from %s\n" % os.path.join(
        "table3", "tiny", "full", "seed-0") in printed
    assert "0 finished, 1 to copy, 2 to train (2 new)" in printed
    assert not (tmp_path / "out" / "table4").exists()
