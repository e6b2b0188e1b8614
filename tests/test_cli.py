"""main.py and run.sh from the outside: bad input, checkpoints, the demo end to end."""
import json
import os
import sys

import pytest
import tensorflow.compat.v1 as tf

from helpers import Built, hyperparameters, random_dataset, run_cli, run_main
from utility.evaluation.evaluator import HeldOut, evaluate, sampled_candidates

SMALL = ["--batch_size", "4", "--embed_size", "8", "--n_layers", "2", "--n_mca", "1",
         "--epochs", "1", "--eval_interval", "1"]


def assert_one_line_error(status, stderr, *fragments):
    assert status == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def dataset_with(tmp_path, edit):
    folder, _ = random_dataset(str(tmp_path / "data" / "custom"))
    edit(folder)
    return ["--dataset", "custom", "--data_path", str(tmp_path / "data"),
            "--out_dir", str(tmp_path / "out")] + SMALL


def replace_line(folder, name, line_no, text):
    path = os.path.join(folder, name)
    lines = open(path).read().splitlines()
    lines[line_no - 1] = text
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


BAD_INPUTS = {
    "malformed line": (lambda f: replace_line(f, "train.txt", 3, "2 4 x 5"),
                       ["train.txt:3:", "integers"]),
    "non-integer id": (lambda f: replace_line(f, "train.txt", 2, "1 2.5 3"),
                       ["train.txt:2:", "integers"]),
    "negative id": (lambda f: replace_line(f, "test.txt", 4, "3 -1"),
                    ["test.txt:4:", "non-negative"]),
    "ragged features": (lambda f: replace_line(f, "item2imgfeat.txt", 6, "5 0.1 0.2"),
                        ["item2imgfeat.txt:6:", "2 features, but earlier lines have 5"]),
    "missing file": (lambda f: os.remove(os.path.join(f, "itemtitle2vec.txt")),
                     ["itemtitle2vec.txt", "not found"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_error(tmp_path, case):
    edit, fragments = BAD_INPUTS[case]
    assert_one_line_error(*run_main(dataset_with(tmp_path, edit))[::2], *fragments)


def test_fewer_users_than_batch_and_missing_dataset(tmp_path):
    flags = dataset_with(tmp_path, lambda f: None) + ["--batch_size", "50"]
    assert_one_line_error(*run_main(flags)[::2], "train.txt", "fewer than --batch_size 50")
    status, _, stderr = run_main(["--dataset", "amazon", "--data_path", str(tmp_path / "none")])
    assert_one_line_error(status, stderr, "python -m utility.prepare_data amazon")


def test_unparsable_test_lines_are_skipped_with_a_warning(tmp_path):
    flags = dataset_with(tmp_path, lambda f: replace_line(f, "test.txt", 2, "1 oops"))
    status, stdout, stderr = run_main(flags)
    assert status == 0, stderr
    assert "test.txt:2:" in stdout and "skipped" in stdout
    with open(str(tmp_path / "out" / "results.json")) as handle:
        assert json.load(handle)["epochs_run"] == 1


def test_checkpoint_restores_and_reproduces_metrics(tmp_path):
    folder, _ = random_dataset(str(tmp_path / "data" / "custom"), n_users=20, n_items=110)
    hp = hyperparameters(embed_size=8, n_layers=2, n_mca=1)
    built = Built(folder, hp, seed=7)
    with built.graph.as_default():
        saver = tf.train.Saver(built.model.parameters)
        partial = tf.train.Saver([v for v in built.model.parameters if v.op.name != "w1_t"])
    checkpoint = saver.save(built.session, str(tmp_path / "ckpt" / "model"))
    negatives_path = str(tmp_path / "negatives.txt")
    flags = ["--dataset", "custom", "--data_path", str(tmp_path / "data"), "--epochs", "0",
             "--embed_size", "8", "--n_layers", "2", "--n_mca", "1", "--batch_size", "4",
             "--init_checkpoint", checkpoint, "--save_test_negatives", negatives_path,
             "--out_dir", str(tmp_path / "out")]
    status, stdout, stderr = run_main(flags)
    assert status == 0, stderr
    with open(str(tmp_path / "out" / "results.json")) as handle:
        results = json.load(handle)
    users, candidates = sampled_candidates(HeldOut.test_split_of(built.dataset), None,
                                           negatives_path)
    want = evaluate(built.session, built.model, users, candidates, [5, 10, 20], 16)
    assert results["epochs_run"] == 0
    for name, value in want.items():
        assert results["final"][name] == pytest.approx(value, abs=1e-9)

    missing = partial.save(built.session, str(tmp_path / "partial" / "model"))
    status, _, stderr = run_main(flags[:-6] + ["--init_checkpoint", missing])
    assert_one_line_error(status, stderr, "variable w1_t is missing")
    status, _, stderr = run_main(flags[:-6] + ["--init_checkpoint", checkpoint,
                                               "--embed_size", "16"])
    assert_one_line_error(status, stderr, "variable user_embedding has shape [20, 8]")


def test_run_sh_demo_end_to_end(tmp_path):
    env = {"MCLN_NO_VENV": "1", "PYTHON": sys.executable, "DATA_PATH": str(tmp_path / "data")}
    status, stdout, stderr = run_cli(["bash", "run.sh", "demo", "--epochs", "2",
                                      "--eval_interval", "1", "--out_dir",
                                      str(tmp_path / "out")], env=env)
    assert status == 0, stderr
    assert os.path.exists(str(tmp_path / "data" / "demo" / "train.txt"))
    with open(str(tmp_path / "out" / "results.json")) as handle:
        results = json.load(handle)
    history = results["history"]
    assert history[1]["loss"] < history[0]["loss"]
    assert results["final"]["hit@10"] > 0.3  # random ranking: 0.10
    assert "random ranking would give hit@10=0.10" in stdout
    expected_keys = {"dataset", "epochs_run", "tensorflow_version", "final", "best", "seconds",
                     "history", "hyperparameters"}
    assert expected_keys <= set(results)
    assert set(results["seconds"]) >= {"load", "train_epoch_mean", "eval_mean"}
    assert set(history[0]) >= {"epoch", "loss", "mf_loss", "emb_loss", "train_seconds",
                                "hit@10", "ndcg@20", "eval_seconds"}


@pytest.mark.parametrize("flags,expected", [(["--help"], "usage: main.py"),
                                            (["--lr", "abc"], "invalid float value")])
def test_help_and_flag_errors_answer_before_tensorflow_starts(flags, expected):
    """-X importtime lists every module the process imported on its stderr."""
    status, stdout, stderr = run_cli([sys.executable, "-X", "importtime", "main.py"] + flags)
    assert expected in stdout + stderr
    assert status == (0 if flags == ["--help"] else 2)
    assert "tensorflow" not in stderr
