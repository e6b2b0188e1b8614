"""Watching a run: TensorBoard events, curves, progress bars, time left, a quiet start."""
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from utility.watch import plot
from utility.common.errors import InputError
from utility.watch.monitor import RunMonitor
from utility.common.progress import TimeLeft, duration_text, evaluated_epochs, progress
from utility.watch.tensorboard import EVENT_FILE_PATTERN, read_events, tag_of, written_scalars
from utility.common.tf_setup import keep_line, stderr_held_back

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(epoch, evaluated, valid=False, shift=0.0):
    """A history record as main.py writes it, with values that differ per epoch."""
    rec = dict(epoch=epoch, loss=10.0 - epoch + shift, mf_loss=8.0 - epoch + shift,
               emb_loss=2.0, train_seconds=1.5 + 0.25 * epoch)
    if evaluated:
        rec.update({"hit@10": 0.1 * epoch, "ndcg@10": 0.05 * epoch, "hit@5": 0.02 * epoch,
                    "eval_seconds": 0.5})
        if valid:
            rec.update({"valid_hit@10": 0.12 * epoch, "valid_ndcg@10": 0.06 * epoch})
    return rec


def history_of(epochs, eval_interval, valid=False):
    return [record(e, e % eval_interval == 0 or e == epochs, valid) for e in range(1, epochs + 1)]


def results_of(history, selected, valid=False):
    results = {"history": history, "best": {"epoch": selected},
               "final": {k: v for k, v in history[-1].items() if "@" in k},
               "hyperparameters": {"lr": 0.001, "epochs": len(history), "out_dir": "x"}}
    if valid:
        results["test_at_best"] = {"epoch": selected}
    return results


def tiny_graph():
    import tensorflow.compat.v1 as tf
    graph = tf.Graph()
    with graph.as_default():
        tf.add(tf.constant(1.0, name="one"), 2.0, name="three")
    return graph


def monitored_run(out_dir, history, epochs, eval_interval=2, resumed=()):
    """Feed ``history`` through a RunMonitor as main.py does; returns the time-left texts."""
    monitor = RunMonitor(types.SimpleNamespace(epochs=epochs, eval_interval=eval_interval),
                         out_dir)
    monitor.started(tiny_graph(), list(resumed))
    return monitor, [monitor.epoch_done(rec) for rec in history]


def count_events(directory):
    """(occurrences of each (tag, step), number of graph events) in the event files."""
    counts, graphs = {}, 0
    for event in read_events(directory):
        graphs += event.HasField("graph_def")
        for value in event.summary.value:
            counts[(value.tag, event.step)] = counts.get((value.tag, event.step), 0) + 1
    return counts, graphs


# ------------------------------------------------------------------ TensorBoard
def test_tags_group_losses_times_and_splits():
    assert [tag_of(k) for k in ("loss", "mf_loss", "emb_loss", "train_seconds",
                                "eval_seconds", "hit@10", "full_recall@20", "valid_ndcg@5",
                                "epoch")] == [
        "loss/loss", "loss/mf_loss", "loss/emb_loss", "time/train_seconds",
        "time/eval_seconds", "test/hit@10", "test/full_recall@20", "valid/ndcg@5", None]


def test_event_file_holds_results_json_history(tmp_path):
    out = str(tmp_path / "run")
    history = history_of(5, 2, valid=True)
    monitor, _ = monitored_run(out, history, epochs=5)
    results = results_of(history, selected=4, valid=True)
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(results, handle)
    monitor.finished(results)

    with open(os.path.join(out, "results.json")) as handle:
        saved = json.load(handle)["history"]
    scalars = written_scalars(os.path.join(out, "tensorboard"))
    expected = {}
    for rec in saved:
        for key, value in rec.items():
            if key != "epoch":
                expected.setdefault(tag_of(key), {})[rec["epoch"]] = np.float32(value)
    assert scalars == expected
    assert sorted(scalars["valid/hit@10"]) == [2, 4, 5]
    assert scalars["loss/mf_loss"][3] == np.float32(5.0)
    counts, graphs = count_events(os.path.join(out, "tensorboard"))
    assert graphs == 1 and set(counts.values()) == {1}
    assert os.path.getsize(monitor.curves_path) > 0


def test_resumed_run_appends_without_duplicates(tmp_path):
    out = str(tmp_path / "run")
    board = os.path.join(out, "tensorboard")
    history = history_of(6, 2)
    # The first part got to epoch 3 and died; its last checkpoint was after epoch 2.
    monitored_run(out, history[:3], epochs=6)
    retrained = [record(e, e % 2 == 0 or e == 6, shift=0.5) for e in range(3, 7)]
    monitor, texts = monitored_run(out, retrained, epochs=6, resumed=history[:2])
    monitor.finished(results_of(history[:2] + retrained, selected=6))
    counts, graphs = count_events(board)
    assert graphs == 1 and set(counts.values()) == {1}
    scalars = written_scalars(board)
    assert sorted(scalars["loss/loss"]) == [1, 2, 3, 4, 5, 6]
    assert scalars["loss/loss"][3] == np.float32(history[2]["loss"])  # the first write stays
    assert scalars["loss/loss"][4] == np.float32(retrained[1]["loss"])
    assert texts[-1] == ""  # nothing left after the last epoch

    # Resuming into a folder without event files writes the resumed epochs from history.
    for name in os.listdir(board):
        os.remove(os.path.join(board, name))
    monitored_run(out, [], epochs=6, resumed=history[:2])
    assert sorted(written_scalars(board)["loss/loss"]) == [1, 2]

    # A fresh run in the same folder starts the event files over.
    monitored_run(out, history[:1], epochs=6)
    assert sorted(written_scalars(board)["loss/loss"]) == [1]
    assert len([n for n in os.listdir(board) if n.startswith(EVENT_FILE_PATTERN[:-1])]) == 1


def test_main_run_events_match_its_results_json_and_resume_appends(tmp_path):
    import main
    from utility.data.demo import make_demo
    from utility.config.flags import parse_args
    make_demo(str(tmp_path / "demo"), seed=1, n_users=40, n_items=100, log=lambda *a: None)
    out = tmp_path / "run"

    def run(epochs, *flags):
        main.run(parse_args(["--dataset", "demo", "--data_path", str(tmp_path), "--out_dir",
                             str(out), "--epochs", str(epochs), "--eval_interval", "2",
                             "--embed_size", "4", "--n_layers", "1", "--n_mca", "1",
                             "--batch_size", "16", "--threads", "1", "--valid"]
                            + list(flags)))
        with open(str(out / "results.json")) as handle:
            return json.load(handle)["history"]

    run(3)
    history = run(4, "--resume")
    board = str(out / "tensorboard")
    expected = {}
    for rec in history:
        for key, value in rec.items():
            if key != "epoch":
                expected.setdefault(tag_of(key), {})[rec["epoch"]] = np.float32(value)
    assert written_scalars(board) == expected
    assert sorted(expected["valid/hit@10"]) == [2, 3, 4]
    counts, graphs = count_events(board)
    assert graphs == 1 and set(counts.values()) == {1}
    assert os.path.getsize(str(out / "curves.png")) > 0


def test_run_of_zero_epochs_logs_its_evaluation_at_step_zero(tmp_path):
    out = str(tmp_path / "run")
    monitor, _ = monitored_run(out, [], epochs=0)
    monitor.finished({"history": [], "final": {"hit@10": 0.25}, "best": {"epoch": 0}})
    assert written_scalars(os.path.join(out, "tensorboard")) == {"test/hit@10": {0: 0.25}}


# ----------------------------------------------------------------------- curves
def lines_by_label(axis):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in axis.get_lines() if not line.get_label().startswith("_")}


def test_curves_show_loss_test_valid_and_the_selected_epoch():
    history = history_of(5, 2, valid=True)
    figure = plot.curves_figure([results_of(history, selected=4, valid=True)], [""])
    loss_axis, hit_axis, ndcg_axis = figure.axes
    assert lines_by_label(loss_axis) == {"train loss": ([1, 2, 3, 4, 5],
                                                        [9.0, 8.0, 7.0, 6.0, 5.0])}
    hits = lines_by_label(hit_axis)
    assert hits["test"][0] == [2, 4, 5]
    np.testing.assert_allclose(hits["test"][1], [0.2, 0.4, 0.5])
    np.testing.assert_allclose(hits["valid"][1], [0.24, 0.48, 0.6])
    assert hits["selected (epoch 4)"][0] == [4]
    np.testing.assert_allclose(hits["selected (epoch 4)"][1], [0.4])
    np.testing.assert_allclose(lines_by_label(ndcg_axis)["test"][1], [0.1, 0.2, 0.25])
    for axis in figure.axes:  # the dotted marker line at the selected epoch
        assert [4, 4] in [list(line.get_xdata()) for line in axis.get_lines()]


def test_full_protocol_curves_and_legend_from_differing_settings():
    history = [dict(epoch=1, loss=3.0, train_seconds=1.0, **{"full_hit@10": 0.3})]
    runs = [results_of(history, 1), results_of(history, 1), results_of(history, 1)]
    runs[1]["hyperparameters"]["lr"] = 0.01
    runs[2]["variant"] = "no_intra"
    labels = plot.legend_labels(["runs/a", "runs/b", "runs/c/"], runs)
    assert labels == ["variant=None, lr=0.001", "variant=None, lr=0.01",
                      "variant=no_intra, lr=0.001"]
    assert plot.legend_labels(["runs/a", "runs/b"], runs[:1] * 2) == ["a", "b"]
    figure = plot.curves_figure(runs, labels)
    assert "variant=None, lr=0.01 test" in lines_by_label(figure.axes[1])
    assert lines_by_label(figure.axes[2]) == {}  # no NDCG measured


def test_legend_of_runs_on_two_datasets_stays_short_and_off_the_curves():
    """runs/demo against runs/taobao differ in a dozen settings: the legend names three, cut
    short, below the panels; the others are listed under it, run by run."""
    from utility.config.flags import hyperparameters, parse_args
    runs = []
    for dataset in ("demo", "taobao"):
        results = results_of(history_of(4, 2), 4)
        results["hyperparameters"] = hyperparameters(parse_args(["--dataset", dataset]))
        runs.append(results)
    run_dirs = ["runs/demo", "runs/taobao"]
    labels = plot.legend_labels(run_dirs, runs)
    assert labels == ["dataset=demo, modalities=image,text, adj_b=0.4",
                      "dataset=taobao, modalities=image, adj_b=0.3"]
    notes = plot.other_differences(run_dirs, runs)
    assert notes == [
        "Also differing (7 more settings):",
        "demo: batch_size=512, epochs=12, eval_interval=4, lambda_m=0.5, lr=0.005, n_layers=2, "
        "n_mca=1",
        "taobao: batch_size=2048, epochs=500, eval_interval=5, lambda_m=0.2, lr=0.001, "
        "n_layers=5, n_mca=4"]
    figure = plot.curves_figure(runs, labels, notes)
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    legend = figure.legends[0].get_window_extent(renderer)
    assert [text.get_text() for text in figure.legends[0].get_texts()] == labels + [
        "test", "validation", "selected epoch"]
    for axis in figure.axes:
        assert axis.get_legend() is None
        assert legend.y1 <= axis.get_tightbbox(renderer).y0  # below every panel
    note = figure.texts[0].get_window_extent(renderer)
    assert note.y1 <= legend.y0 and note.y0 >= 0
    assert figure.texts[0].get_text() == "\n".join(notes)


def test_legend_cuts_long_values_and_names_folders_when_labels_coincide():
    history = [dict(epoch=1, loss=3.0, **{"hit@10": 0.3})]
    runs = [results_of(history, 1) for _ in range(3)]
    for results, (dataset, seed, lr) in zip(runs, [("demo", 0, 0.1), ("demo", 0, 0.2),
                                                    ("a-very-long-dataset-name", 1, 0.1)]):
        results["hyperparameters"].update(dataset=dataset, seed=seed, lr=lr, epochs=1)
    runs[2]["hyperparameters"]["Ks"] = [5, 10]  # a fourth differing setting
    labels = plot.legend_labels(["runs/x", "runs/y", "runs/z"], runs)
    assert labels == ["x: dataset=demo, seed=0, Ks=None", "y: dataset=demo, seed=0, Ks=None",
                      "z: dataset=a-very-long-d..., seed=1, Ks=5,10"]
    assert plot.other_differences(["runs/x", "runs/y", "runs/z"], runs) == [
        "Also differing (1 more setting):", "x: lr=0.1", "y: lr=0.2", "z: lr=0.1"]


def write_run(folder, results):
    os.makedirs(folder)
    with open(os.path.join(folder, "results.json"), "w") as handle:
        json.dump(results, handle)
    return folder


def test_plot_cli_overlays_runs_and_rejects_bad_folders(tmp_path, capsys):
    first = write_run(str(tmp_path / "a"), results_of(history_of(4, 2), 4))
    second = write_run(str(tmp_path / "b"), results_of(history_of(3, 1), 2))
    out = str(tmp_path / "figures" / "both.png")
    plot.main([first, second, "--out", out])
    with open(out, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "curves of 2 run(s)" in capsys.readouterr().out

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    for folder, fragment in ((tmp_path / "broken", "not valid JSON"),
                             (tmp_path / "empty", "no results.json"),
                             (tmp_path / "absent", "no such run folder")):
        with pytest.raises(InputError, match=fragment):
            plot.main([str(folder), "--out", out])
    done = subprocess.run([sys.executable, "-m", "utility.plot", str(tmp_path / "absent"),
                           "--out", out], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: %s: no such run folder" % (tmp_path / "absent")]


# ------------------------------------------------------------ progress and time left
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_outside_ci(monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    items = range(5)
    assert progress(items, 5, "epoch 1") is items  # stderr is not a terminal under pytest
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(progress(items, 5, "epoch 1")) == [0, 1, 2, 3, 4]
    shown = terminal.getvalue()
    assert "epoch 1" in shown and "0/5" in shown and "it/s" in shown

    monkeypatch.setenv("CI", "true")
    quiet = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert progress(items, 5, "epoch 1") is items
    assert quiet.getvalue() == "" and capsys.readouterr().out == ""


def test_unwatched_long_work_reports_a_plain_line_now_and_then(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    now = [0.0]

    def clock():  # each step takes 25 seconds
        now[0] += 25.0
        return now[0]

    assert list(progress(range(6), 6, "encoding titles", report_seconds=60,
                         clock=clock)) == list(range(6))
    # 25 s a step: lines after steps 3 (75 s since the start) and 6 would be due, but the
    # last step needs none; 3 steps left at 25 s each
    assert capsys.readouterr().err == "encoding titles: 3/6 (50%), ~1m left\n"


def test_evaluated_epochs_counts_interval_multiples_and_the_last():
    for epochs, interval in ((12, 4), (10, 4), (7, 1), (5, 20)):
        for first in range(1, epochs + 2):
            brute = sum(1 for e in range(first, epochs + 1) if e % interval == 0 or e == epochs)
            assert evaluated_epochs(first, epochs, interval) == brute, (first, epochs, interval)


def test_time_left_from_mean_epoch_and_evaluation_seconds():
    estimate = TimeLeft(epochs=10, eval_interval=4)
    estimate.add({"train_seconds": 50.0})
    assert estimate.text(1) == " (~8m+ left)"  # 9 epochs x 50 s, evaluations not yet timed
    estimate.add({"train_seconds": 70.0})
    estimate.add({"train_seconds": 60.0})
    estimate.add({"train_seconds": 60.0, "eval_seconds": 30.0})
    # 6 epochs x 60 s + evaluations after epochs 8 and 10 x 30 s
    assert estimate.seconds(4) == 6 * 60.0 + 2 * 30.0
    assert estimate.text(4) == " (~7m left)"
    assert estimate.text(10) == ""
    assert [duration_text(s) for s in (42, 89, 91, 3599, 3600 + 5 * 60, 26 * 3600)] == [
        "42s", "1m", "2m", "1h00m", "1h05m", "26h00m"]


# ----------------------------------------------------------------- quiet start
def test_startup_noise_pattern_keeps_warnings_and_errors():
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written "
             "to STDERR\n",
             "I0000 00:00:1795793766.324715    9688 port.cc:153] oneDNN custom operations\n",
             "2026-11-27 15:36:18.848645: I tensorflow/core/platform/cpu_feature_guard.cc:142]"
             " Your CPU supports\n"]
    kept = ["E0000 00:00:1795793774.118295    9852 cuda_platform.cc:52] failed call\n",
            "W0000 00:00:1795793774.1    9852 op_kernel.cc:1] OP_REQUIRES failed\n",
            "2026-11-27 15:36:18.8: W tensorflow/core/framework/allocator.cc:107] Allocation\n",
            "/work/x.py:3: UserWarning: careful\n", "error: bad file\n"]
    assert [keep_line(line) for line in noise + kept] == [False] * 3 + [True] * 5


def test_held_back_stderr_passes_on_kept_lines_also_on_error(capfd):
    with pytest.raises(ValueError):
        with stderr_held_back(lambda line: "keep" in line):
            os.write(2, b"keep me\ndrop me\nkeep this too\n")  # as TensorFlow's C++ writes
            raise ValueError("the block failed")
    assert capfd.readouterr().err == "keep me\nkeep this too\n"


QUIET_SCRIPT = """
import sys, warnings
from utility.common.tf_setup import quiet_tensorflow
quiet_tensorflow(sys.argv[1] == "show")
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
graph = tf.Graph()
with graph.as_default():
    x = tf.placeholder(tf.float32, [None])
    where = tf.where(x > 0)  # deprecated on TF 1.15
    checked = tf.debugging.check_numerics(x, "x has a NaN")
with tf.Session(graph=graph) as session:
    print(session.run(where, {x: [1.0, -1.0]}).tolist())
    try:
        session.run(checked, {x: [float("nan")]})
    except tf.errors.InvalidArgumentError as failure:
        sys.stderr.write("caught the NaN: %s\\n" % ("x has a NaN" in failure.message))
warnings.warn("a warning of our own")
sys.stderr.write("error: an error of our own\\n")
"""
NOISE = ("cuInit", "MLIR", "is deprecated", "absl::InitializeLog", "oneDNN", "cuda drivers",
         "cpu_feature_guard", "XLA service")


def session_stderr(mode):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-c", QUIET_SCRIPT, mode], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[[0]]"
    return done.stderr


def test_tensorflow_start_is_quiet_unless_asked():
    quiet = session_stderr("quiet")
    assert not [line for line in quiet.splitlines() if any(n in line for n in NOISE)], quiet
    assert "caught the NaN: True" in quiet  # TensorFlow's real errors still surface
    assert "UserWarning: a warning of our own" in quiet
    assert "error: an error of our own" in quiet
    shown = session_stderr("show")
    assert [line for line in shown.splitlines() if any(n in line for n in NOISE)], shown
