"""recommend.py and export.py against the run they come from.

Tiny runs are trained by main.py (MCLN with --valid, and BPRMF when the model exists); their
recommendations must be the full-ranking evaluation's top-K of the best checkpoint, and the
exported SavedModel, loaded in a fresh process, must answer the same; where the other
TensorFlow line is at hand, the checkpoint and the SavedModel are read there too.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import REPO, random_dataset
from utility.common.errors import InputError

# BPRMF is written alongside this work: it is tested once it exists.
MODELS = ["mcln"] + (["bprmf"] if os.path.exists(os.path.join(REPO, "model", "bprmf.py"))
                     else [])
N_USERS, N_ITEMS, K = 16, 24, 10
# hit@N_ITEMS is 1 at every evaluation, and the first of equal maxima is the best: the best
# checkpoint is epoch 1's, the last epoch 2's, whatever the TensorFlow line's numbers.
TRAIN_FLAGS = ["--batch_size", "4", "--embed_size", "8", "--n_layers", "2", "--n_mca", "1",
               "--epochs", "2", "--eval_interval", "1", "--eval_protocol", "full",
               "--Ks", "3,10,%d" % N_ITEMS, "--select_metric", "full_hit@%d" % N_ITEMS,
               "--lr", "0.05"]
TWICE_HELD_OUT_USER = 2  # has a second test item that is also one of its train items


def started(command, cwd=REPO, python=sys.executable):
    return subprocess.Popen([python] + command, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def other_line_python():
    """An interpreter of the other TensorFlow line (1.15 <-> 2.x): $MCLN_OTHER_PYTHON, else
    this checkout's other venv (.venv or .venv-py37, as run.sh creates them), else None."""
    if os.environ.get("MCLN_OTHER_PYTHON"):
        return os.environ["MCLN_OTHER_PYTHON"]
    import tensorflow as tf
    mine = tf.__version__.split(".")[0]
    for venv in (".venv", ".venv-py37"):
        python = os.path.join(REPO, venv, "bin", "python")
        if os.path.realpath(os.path.dirname(os.path.dirname(python))) == os.path.realpath(
                sys.prefix) or not os.access(python, os.X_OK):
            continue
        version = subprocess.run([python, "-c", "import tensorflow as tf; print(tf.__version__)"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 universal_newlines=True).stdout.strip()
        if version and version.split(".")[0] != mine:
            return python
    return None


def finished(process):
    """(exit status, stdout, stderr) of a started process."""
    out, err = process.communicate()
    return process.returncode, out, err


def succeeded(process):
    status, out, err = finished(process)
    assert status == 0, err
    return out


def write_dataset(folder):
    """random_dataset plus a validation split, and a held-out item that is also trained on."""
    random_dataset(folder, n_users=N_USERS, n_items=N_ITEMS, seed=4)
    train = {}
    with open(os.path.join(folder, "train.txt")) as handle:
        for line in handle:
            ids = [int(token) for token in line.split()]
            train[ids[0]] = ids[1:]
    with open(os.path.join(folder, "validation.txt"), "w") as handle:
        handle.writelines("%d %d\n" % (user, items[1]) for user, items in sorted(train.items()))
    with open(os.path.join(folder, "test.txt"), "a") as handle:
        handle.write("%d %d\n" % (TWICE_HELD_OUT_USER, train[TWICE_HELD_OUT_USER][0]))
    return train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """model -> run directory, trained in parallel; the dataset's folder and train lists."""
    root = tmp_path_factory.mktemp("recommend")
    train = write_dataset(str(root / "data" / "tiny"))
    directories = {model: str(root / model) for model in MODELS}
    processes = [started(["main.py", "--dataset", "tiny", "--data_path", str(root / "data"),
                          "--out_dir", directories[model], "--model", model] + TRAIN_FLAGS
                         + (["--valid"] if model == "mcln" else []))
                 for model in MODELS]
    for process in processes:
        succeeded(process)
    return directories, str(root), train


@pytest.fixture(scope="module")
def outputs(runs):
    """recommend.py's JSON (all users, in a shuffled order) per model, and export.py's
    SavedModel of the MCLN run. Both command lines run in this process: a process of their
    own would start TensorFlow once more each, for nothing their main() does not show."""
    import export as export_cli
    import recommend as recommend_cli
    directories, root, _ = runs
    users = ",".join(map(str, np.random.RandomState(0).permutation(N_USERS)))
    answers = {}
    for model, directory in directories.items():
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            recommend_cli.main(["--run", directory, "--users", users, "--k", str(K),
                                "--format", "json"])
        answers[model] = json.loads(printed.getvalue())
    export_dir = os.path.join(root, "exported")
    with contextlib.redirect_stdout(io.StringIO()):
        export_cli.main(["--run", directories["mcln"], "--export_dir", export_dir])
    return answers, export_dir


def load_results(directory):
    with open(os.path.join(directory, "results.json")) as handle:
        return json.load(handle)


def evaluation_top_k(directory):
    """The full-ranking evaluation of the run's best checkpoint, rebuilt as main.py builds
    it: (its metrics, test users, their top-K items and scores, known keys of the split)."""
    import main
    from utility.run.build import model_and_config, start
    from utility.run.checkpoint import restore_variables
    from utility.evaluation.evaluator import Evaluator
    from utility.config.flags import parse_args
    results = load_results(directory)
    hyperparameters = results["hyperparameters"]
    args = parse_args(["--dataset", hyperparameters["dataset"], "--model", hyperparameters[
        "model"], "--data_path", hyperparameters["data_path"], "--out_dir", directory]
        + TRAIN_FLAGS + (["--valid"] if hyperparameters["valid"] else []))
    cls, config = model_and_config(args)
    dataset, adjacency = main.load(args, cls, config, main.load_splits(args))
    evaluate = Evaluator(args, dataset)
    graph, session, model = start(cls, config, dataset, adjacency, args.seed)
    with session:
        restore_variables(session, model.parameters, results["checkpoints"]["best"])
        metrics = evaluate(session, model)
        split = evaluate.splits[-1]  # test
        full = model.ranking.full
        top, scores = session.run([full.top_items, full.scores], {
            full.users: split.users, full.masked: split.masked_pairs(0, len(split.users)),
            full.k: K})
    return (metrics, split, top, np.take_along_axis(scores, top, axis=1),
            results["test_at_best" if hyperparameters["valid"] else "best"])


def by_user(answer):
    return {row["user"]: (row["items"], row["scores"]) for row in answer["recommendations"]}


@pytest.mark.parametrize("model", MODELS)
def test_recommendations_are_the_full_ranking_evaluations_top_k(runs, outputs, model):
    from utility.evaluation.evaluator import full_metric_sums
    directory = runs[0][model]
    metrics, split, top, top_scores, recorded = evaluation_top_k(directory)
    # The rebuilt evaluation is the run's own: its best checkpoint's recorded test metrics.
    for name in ("recall@3", "ndcg@10", "hit@10"):
        assert metrics["full_" + name] == pytest.approx(recorded["full_" + name], abs=1e-9)
    answer = outputs[0][model]
    checkpoints = load_results(directory)["checkpoints"]
    assert answer["checkpoint"] == checkpoints["best"] != checkpoints["last"]
    assert answer["checkpoint"].endswith(os.path.join("epoch-000001", "model"))
    got = by_user(answer)
    assert sorted(got) == list(split.users) == list(range(N_USERS))
    for row, user in enumerate(split.users):
        items, scores = got[user]
        assert items == top[row].tolist(), user
        np.testing.assert_allclose(scores, top_scores[row], rtol=1e-5, atol=1e-5)
        assert scores == sorted(scores, reverse=True)
    # Scored from these lists alone, the recorded test metrics come back.
    counts, target_keys = split.targets(0, len(split.users))
    items = np.array([got[user][0] for user in split.users])
    sums = full_metric_sums(items, counts, target_keys, N_ITEMS, [3, 10])
    assert sums["recall@3"] / N_USERS == pytest.approx(recorded["full_recall@3"], abs=1e-9)
    assert sums["ndcg@10"] / N_USERS == pytest.approx(recorded["full_ndcg@10"], abs=1e-9)


def test_known_items_are_excluded_and_held_out_items_are_not(runs, outputs):
    """MCLN's run used --valid: train and validation items are known, test items are not,
    even the one its user also trained on; every other item stays rankable."""
    directory, train = runs[0]["mcln"], runs[2]
    with open(os.path.join(os.path.dirname(directory), "data", "tiny", "test.txt")) as handle:
        held_out = [tuple(map(int, line.split())) for line in handle]
    got = by_user(outputs[0]["mcln"])
    from utility.serve.recommend import load_run
    run = load_run(directory)
    for user, items in train.items():
        targets = {item for who, item in held_out if who == user}
        known = set(items) - targets
        assert known == set(run.excluded[run.excluded // N_ITEMS == user] % N_ITEMS)
        assert not known & set(got[user][0])
    twice = TWICE_HELD_OUT_USER
    assert train[twice][0] in {item for who, item in held_out if who == twice}
    assert train[twice][0] not in run.excluded[run.excluded // N_ITEMS == twice] % N_ITEMS


def saved_model_answers(path, requests, python=sys.executable):
    """What the SavedModel at ``path`` answers to ``requests`` [(user ids, k)], asked by a
    fresh process of ``python`` that imports nothing of this project."""
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import tensorflow as tf
        path, requests = sys.argv[1], json.loads(sys.argv[2])
        answers = []
        if tf.__version__.startswith("1."):
            with tf.Session(graph=tf.Graph()) as session:
                meta = tf.saved_model.loader.load(session, ["serve"], path)
                signature = meta.signature_def["serving_default"]
                for users, k in requests:
                    answer = session.run(
                        {name: info.name for name, info in signature.outputs.items()},
                        {signature.inputs["user_ids"].name: users,
                         signature.inputs["k"].name: k})
                    answers.append({name: value.tolist() for name, value in answer.items()})
        else:
            serve = tf.saved_model.load(path).signatures["serving_default"]
            for users, k in requests:
                answer = serve(user_ids=tf.constant(users, tf.int64), k=tf.constant(k))
                answers.append({name: value.numpy().tolist() for name, value in answer.items()})
        print(json.dumps(answers))
    """)
    out = succeeded(started(["-c", script, path, json.dumps(requests)], cwd=os.path.dirname(path),
                            python=python))
    return json.loads(out.strip().splitlines()[-1])


def test_saved_model_in_a_fresh_process_answers_as_recommend(runs, outputs):
    answers, export_dir = outputs
    version = os.path.join(export_dir, "1")
    assert sorted(os.listdir(export_dir)) == ["1"]  # the temporary name is gone
    users = [5, 0, 11, 3]
    few, every = saved_model_answers(version, [(users, K), ([7, TWICE_HELD_OUT_USER], 999)])
    got = by_user(answers["mcln"])
    assert few["item_ids"] == [got[user][0] for user in users]
    np.testing.assert_allclose(few["scores"], [got[user][1] for user in users],
                               rtol=1e-5, atol=1e-5)
    # k above the catalogue is clipped to it; the excluded items come last, at -inf.
    from utility.serve.recommend import load_run
    run = load_run(runs[0]["mcln"])
    for row, user in enumerate([7, TWICE_HELD_OUT_USER]):
        excluded = set(run.excluded[run.excluded // N_ITEMS == user] % N_ITEMS)
        assert sorted(every["item_ids"][row]) == list(range(N_ITEMS))
        assert set(every["item_ids"][row][N_ITEMS - len(excluded):]) == excluded
        assert np.isneginf(every["scores"][row][N_ITEMS - len(excluded):]).all()
        assert np.isfinite(every["scores"][row][:N_ITEMS - len(excluded)]).all()
        assert every["item_ids"][row][:K] == got[user][0]


UNKNOWN_USER_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    path, users = sys.argv[1], [int(user) for user in sys.argv[2].split(",")]
    try:
        if tf.__version__.startswith("1."):
            with tf.Session(graph=tf.Graph()) as session:
                meta = tf.saved_model.loader.load(session, ["serve"], path)
                signature = meta.signature_def["serving_default"]
                session.run(signature.outputs["item_ids"].name,
                            {signature.inputs["user_ids"].name: users,
                             signature.inputs["k"].name: 3})
        else:
            serve = tf.saved_model.load(path).signatures["serving_default"]
            serve(user_ids=tf.constant(users, tf.int64), k=tf.constant(3))
    except tf.errors.InvalidArgumentError as error:
        print("refused: %s" % [line.strip() for line in error.message.splitlines()
                               if "assertion failed" in line][0])
""")


def test_saved_model_loads_without_warnings_and_names_unknown_users(outputs):
    """No variable warnings when TensorFlow 2.x loads it (the tables are constants); a user
    id beyond the run's users is refused naming that id and the range, not an index of the
    graph's internals (user + 1 of U + 1 CSR bounds)."""
    _, export_dir = outputs
    status, out, err = finished(started(
        ["-c", UNKNOWN_USER_SCRIPT, os.path.join(export_dir, "1"), "%d,3,-1" % N_USERS]))
    assert status == 0, err
    assert out.strip().splitlines()[-1].endswith(
        "assertion failed: [unknown user ids (this model knows users 0 to %d):] [%d -1]"
        % (N_USERS - 1, N_USERS))
    assert "reference variable" not in err and "Unable to create a python object" not in err


def test_recommend_and_export_keep_tensorflow_quiet(runs, tmp_path):
    """Nothing on stderr but what the commands say themselves: TensorFlow's CUDA lines and
    deprecation notices are hidden, as main.py hides them (--tf_log shows them)."""
    directory = runs[0]["mcln"]
    recommended = started(["recommend.py", "--run", directory, "--users", "1", "--k", "2"])
    exported = started(["export.py", "--run", directory, "--export_dir", str(tmp_path)])
    for process, first in ((recommended, "user,rank,item,score"), (exported, "exported ")):
        status, out, err = finished(process)
        assert (status, err) == (0, "")
        assert out.startswith(first)


def test_the_other_tensorflow_line_reads_the_checkpoint_and_the_saved_model(runs, outputs):
    """A run trained on one line (1.15 or 2.x) serves on the other: recommend.py there restores
    its checkpoint, and the SavedModel loads there, both answering as this line does."""
    python = other_line_python()
    if python is None:
        message = "no interpreter of the other TensorFlow line (set MCLN_OTHER_PYTHON)"
        if os.environ.get("CI") == "true":  # .ci/run sets both lines up before testing
            pytest.fail(message)
        pytest.skip(message)
    answers, export_dir = outputs
    users = [5, 0, 11, 3]
    for model, directory in runs[0].items():
        out = succeeded(started(["recommend.py", "--run", directory, "--users",
                                 ",".join(map(str, users)), "--k", str(K), "--format", "json"],
                                python=python))
        there, here = by_user(json.loads(out)), by_user(answers[model])
        for user in users:
            assert there[user][0] == here[user][0]
            np.testing.assert_allclose(there[user][1], here[user][1], rtol=1e-5, atol=1e-5)
    few, = saved_model_answers(os.path.join(export_dir, "1"), [(users, K)], python=python)
    here = by_user(answers["mcln"])
    assert few["item_ids"] == [here[user][0] for user in users]
    np.testing.assert_allclose(few["scores"], [here[user][1] for user in users],
                               rtol=1e-5, atol=1e-5)


def test_excluded_pairs_follow_each_users_slice():
    from utility.serve.recommend import excluded_pairs
    excluded = np.array([1, 3, 4, 12, 13, 25, 29])  # user 0: 1 3 4, user 1: 2 3, user 2: 5 9
    assert excluded_pairs(np.array([2, 0, 1, 1, 4]), excluded, 10).tolist() == [
        [0, 5], [0, 9], [1, 1], [1, 3], [1, 4], [2, 2], [2, 3], [3, 2], [3, 3]]
    assert excluded_pairs(np.array([4]), excluded, 10).shape == (0, 2)


def test_csv_lists_rank_item_score_per_user():
    from utility.serve.recommend import Recommendations, as_csv
    result = Recommendations(np.array([4, 1]), np.array([[7, 2], [0, 9]]),
                             np.array([[1.5, -0.25], [3.0, 2.0]], dtype=np.float32), "ckpt")
    assert as_csv(result) == ("user,rank,item,score\n4,1,7,1.5\n4,2,2,-0.25\n"
                              "1,1,0,3\n1,2,9,2\n")


def test_requests_are_checked(runs, outputs, tmp_path):
    from utility.serve.recommend import (check_k, checked_users, checkpoint_of, load_run,
                                   parse_user_ids, read_user_file)
    from utility.serve.export import version_dir
    directory = runs[0]["mcln"]
    run = load_run(directory)
    assert parse_user_ids(" 3, 17 4\t") == [3, 17, 4]
    assert checked_users([5, 2, 5, 0], N_USERS).tolist() == [5, 2, 0]
    users_file = tmp_path / "users.txt"
    users_file.write_text(u"# header\n3 4, 5\n\n6 # six\n")
    assert read_user_file(str(users_file)) == [3, 4, 5, 6]
    # The largest K that user 0 still fills: the items it does not know.
    fill = N_ITEMS - int(np.sum(run.excluded // N_ITEMS == 0))
    check_k(fill, np.array([0]), run.excluded, N_ITEMS)
    failures = {
        "unknown user id 16": lambda: checked_users([3, 16], N_USERS),
        "--users: user ids must be non-negative integers, got '-1'":
            lambda: parse_user_ids("3,-1"),
        "--k 0 is out of range": lambda: check_k(0, np.array([0]), run.excluded, N_ITEMS),
        "--k %d is out of range: it must be 1..%d" % (fill + 1, fill):
            lambda: check_k(fill + 1, np.array([0]), run.excluded, N_ITEMS),
        "results.json: not found": lambda: load_run(str(tmp_path)),
        "the run's dataset folder is not there; pass --data_path":
            lambda: load_run(directory, data_path=str(tmp_path)),
        "no best checkpoint": lambda: checkpoint_of(str(tmp_path)),
        "--checkpoint %s: no TF checkpoint there" % tmp_path:
            lambda: checkpoint_of(directory, str(tmp_path)),
        "1 already exists": lambda: version_dir(os.path.join(os.path.dirname(directory),
                                                             "exported"), 1),
    }
    for message, call in failures.items():
        with pytest.raises(InputError) as error:
            call()
        assert message in str(error.value)
    (tmp_path / "bad.txt").write_text(u"3\n4 x\n")
    (tmp_path / "empty.txt").write_text(u"# nobody\n\n")
    for name, message in (("bad.txt", "bad.txt:2: user ids must be non-negative integers, "
                                      "got 'x'"), ("empty.txt", "empty.txt: no user ids")):
        with pytest.raises(InputError) as error:
            read_user_file(str(tmp_path / name))
        assert message in str(error.value)


def test_command_lines_answer_errors_and_help_without_tensorflow(runs, tmp_path):
    directory = runs[0]["mcln"]
    empty = tmp_path / "empty.txt"
    empty.write_text(u"\n")
    commands = [
        (["recommend.py", "--help"], None),
        (["export.py", "--help"], None),
        (["recommend.py", "--run", directory, "--users", "1,99"],
         "unknown user id 99 (the run's users are 0..%d)" % (N_USERS - 1)),
        (["recommend.py", "--run", directory, "--users_file", str(empty)],
         "%s: no user ids in the file" % empty),
        (["recommend.py", "--run", str(tmp_path), "--users", "1"],
         "%s: not found; --run needs the --out_dir of a finished main.py run"
         % os.path.join(str(tmp_path), "results.json")),
    ]
    # -X importtime lists every module a process imports on its stderr.
    processes = [(started(["-X", "importtime"] + command), fragment)
                 for command, fragment in commands]
    for process, fragment in processes:
        status, out, err = finished(process)
        if fragment is None:
            assert status == 0 and out.startswith("usage:"), err
        else:
            assert status == 2 and out == "" and "Traceback" not in err, err
            assert [line for line in err.splitlines() if line.startswith("error:")] == [
                "error: " + fragment], err
        assert "tensorflow" not in err
