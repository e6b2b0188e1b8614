"""Faults survived: SIGKILL inside a checkpoint save (the MCLN_TEST_KILL_AT hook) and from
outside at random moments, Ctrl-C, damaged checkpoints, NaN weights, a full disk, and two
runs into one --out_dir. See docs/reliability.md."""
import errno
import fcntl
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import main
from helpers import REPO, random_dataset
from utility.common import atomic
from utility.run import checkpoint as checkpoint_module
from utility.common.atomic import DiskFullError, is_temporary, write_json_atomically
from utility.run.checkpoint import (KILL_HOOK, SAVE_STAGES, WAIT_HOOK, Checkpoints,
                                restore_variables)
from utility.common.errors import INTERRUPTED_STATUS, TERMINATED_STATUS, InputError
from utility.data.demo import make_demo
from utility.config.flags import parse_args
from utility.data.prepare import atomic_write
from utility.evaluation.report import write_results
from utility.run.run_lock import LOCK_FILE, RunLock, holder

EPOCHS = 6
# 120 users, batches of 16: about 40 steps an epoch, long enough to be killed in.
FLAGS = ["--dataset", "custom", "--embed_size", "8", "--n_layers", "2", "--n_mca", "1",
         "--batch_size", "16", "--lr", "0.01", "--decay", "1e-3", "--threads", "1",
         "--epochs", str(EPOCHS), "--eval_interval", "1"]
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "2"}


# ------------------------------------------------------------------ subprocess runs
@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    random_dataset(str(base / "custom"), n_users=120, n_items=110, seed=4)
    return str(base)


def command(data_path, out_dir, *more):
    return [sys.executable, "main.py", "--data_path", data_path, "--out_dir", str(out_dir)] \
        + FLAGS + list(more)


def child_env(extra=None):
    return dict(os.environ, **dict(QUIET_TF, **(extra or {})))


def hears_ctrl_c():
    """In the child before it starts: SIGINT as in a terminal. A test run started in the
    background of a script inherits SIGINT ignored, and Python then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv, env=None):
    """main.py in a child process whose stdout we read line by line."""
    with open(os.devnull, "w") as stderr:
        return subprocess.Popen(argv, cwd=REPO, env=child_env(env), stdout=subprocess.PIPE,
                                stderr=stderr, universal_newlines=True)


def wait_for_line(process, prefix):
    """Read the child's stdout up to a line starting with ``prefix``; False at its end."""
    for line in process.stdout:
        if line.startswith(prefix):
            return True
    return False


def finish(argv, env=None):
    done = subprocess.run(argv, cwd=REPO, env=child_env(env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    return done.returncode, done.stdout, done.stderr


def results_of(out_dir):
    with open(os.path.join(str(out_dir), "results.json")) as handle:
        return json.load(handle)


def pointer_epochs(out_dir):
    folder = os.path.join(str(out_dir), "checkpoints")
    return {which: json.load(open(os.path.join(folder, which + ".json")))["epoch"]
            for which in ("last", "best")}


def leftovers(out_dir):
    return [os.path.join(root, name) for root, dirs, files in os.walk(str(out_dir))
            for name in dirs + files if is_temporary(name)]


@pytest.fixture(scope="module")
def uninterrupted(data_path, tmp_path_factory):
    """The run every interrupted one must reproduce: its out_dir and results."""
    out = tmp_path_factory.mktemp("uninterrupted")
    status, _, stderr = finish(command(data_path, out))
    assert status == 0, stderr
    return out, results_of(out)


def assert_same_run(out_dir, uninterrupted):
    """Per-epoch losses and metrics as in the uninterrupted run (single-threaded TF on CPU
    is bit-reproducible across processes), the same pointers, nothing temporary left."""
    reference_dir, reference = uninterrupted
    results = results_of(out_dir)
    assert results["epochs_run"] == EPOCHS
    for key in ("loss", "mf_loss", "emb_loss", "hit@10", "ndcg@10"):
        assert [r[key] for r in results["history"]] == [r[key] for r in reference["history"]]
    assert results["final"] == reference["final"] and results["best"] == reference["best"]
    assert pointer_epochs(out_dir) == pointer_epochs(reference_dir)
    assert leftovers(out_dir) == []


def improving_epochs(results):
    """The epochs whose evaluation was a new best (their saves write best.json)."""
    metric, best, epochs = results["hyperparameters"]["select_metric"], -np.inf, []
    for record in results["history"]:
        if record[metric] > best:
            best = record[metric]
            epochs.append(record["epoch"])
    return epochs


def test_sigkill_inside_checkpoint_saves_then_resume(data_path, uninterrupted, tmp_path):
    """Real SIGKILLs from the hook at seeded random save stages, --resume after each."""
    rng = random.Random(14)
    every_save = [stage for stage in SAVE_STAGES if not stage.endswith("_best")]
    first = (rng.choice(every_save), rng.randint(2, 3))  # at the save of epoch 2 or 3
    resumes_at = first[1] - (first[0] != "after_last")
    # Then at a best.json stage: the first improving save after that point.
    improving = [epoch for epoch in improving_epochs(uninterrupted[1]) if epoch > resumes_at]
    assert improving, "the data should improve after epoch %d" % resumes_at
    second = (rng.choice(["before_best", "after_best"]), 1)
    out = tmp_path / "out"
    for stage, n in (first, second):
        status, stdout, _ = finish(command(data_path, out, "--resume"),
                                   env={KILL_HOOK: "%s:%d" % (stage, n)})
        assert status == -signal.SIGKILL, (stage, n, stdout)
    assert "after epoch %d" % resumes_at in stdout
    status, stdout, stderr = finish(command(data_path, out, "--resume"))
    assert status == 0, stderr
    assert "after epoch %d" % (improving[0] - 1) in stdout  # the best.json stages precede last
    assert_same_run(out, uninterrupted)


def test_sigkill_in_training_then_ctrl_c_then_a_damaged_checkpoint(data_path, uninterrupted,
                                                                   tmp_path):
    """SIGKILL from outside at a seeded random moment of training; --resume, and Ctrl-C in
    it: one line naming the last checkpoint and the command that continues; that checkpoint
    then damaged: the command names the bad file and goes on from the state before it.
    The run still ends as the uninterrupted one."""
    out = tmp_path / "out"
    argv = command(data_path, out)
    # Each child waits after a given save (MCLN_TEST_WAIT_AT), so that a signal finds it
    # running however late this process reads its output: the first after its second save
    # (the kill lands in epochs 1-2 or in that wait), ...
    process = start(argv, {WAIT_HOOK: "after_last:2"})
    if wait_for_line(process, "Epoch 1 "):
        time.sleep(random.Random(7).uniform(0.0, 0.2))
    process.kill()
    process.communicate()

    # ... the resumed one after its third (epoch 3, 4 or 5), past the "Epoch 3" line.
    process = subprocess.Popen(argv + ["--resume"], cwd=REPO,
                               env=child_env({WAIT_HOOK: "after_last:3"}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, preexec_fn=hears_ctrl_c)
    for line in process.stdout:  # two states saved at least: one to fall back to
        if line.startswith("Epoch ") and int(line.split()[1]) >= 3:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate()
    assert process.returncode == INTERRUPTED_STATUS == 130
    assert "Traceback" not in stderr
    message = stderr.strip().splitlines()[-1]
    assert [line for line in stderr.splitlines() if line.startswith("interrupted")] == [message]
    last = json.load(open(str(out / "checkpoints" / "last.json")))["epoch"]
    last_dir = os.path.join(str(out), "checkpoints", "epoch-%06d" % last)
    resume = " ".join(shlex.quote(part) for part in argv + ["--resume"])
    assert message == "interrupted; the last checkpoint is %s; continue with: %s" % (
        last_dir, resume)
    assert (out / "interrupted.txt").read_text() == message + "\n"  # for a dead | tee

    truncate(os.path.join(last_dir, "state.json"), 100)
    status, stdout, stderr = finish(shlex.split(message.split("continue with: ", 1)[1]))
    assert status == 0, stderr
    assert not (out / "interrupted.txt").exists()  # finished: the note is gone
    previous_dir = os.path.join(str(out), "checkpoints", "epoch-%06d" % (last - 1))
    assert "warning: %s is damaged (not valid JSON: " % os.path.join(last_dir, "state.json") \
        in stdout
    assert "falling back to the previous complete checkpoint %s (epoch %d)" % (
        previous_dir, last - 1) in stdout
    assert "resumed from %s after epoch %d" % (os.path.join(previous_dir, "model"), last - 1) \
        in stdout
    assert_same_run(out, uninterrupted)


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(data_path, uninterrupted, tmp_path):
    """SIGTERM (a scheduler's notice before it kills a job) while training: exit 143, one
    line naming the last checkpoint and the --resume command, the same line in
    <out_dir>/interrupted.txt; that command then ends the run as the uninterrupted one."""
    out = tmp_path / "out"
    argv = command(data_path, out)
    process = subprocess.Popen(argv, cwd=REPO, env=child_env({WAIT_HOOK: "after_last:2"}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    assert wait_for_line(process, "Epoch 2 ")  # saved twice: it waits there for the signal
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate()
    assert process.returncode == TERMINATED_STATUS == 143
    assert "Traceback" not in stderr
    message = stderr.strip().splitlines()[-1]
    last = json.load(open(str(out / "checkpoints" / "last.json")))["epoch"]
    last_dir = os.path.join(str(out), "checkpoints", "epoch-%06d" % last)
    resume = " ".join(shlex.quote(part) for part in argv + ["--resume"])
    assert message == "terminated; the last checkpoint is %s; continue with: %s" % (
        last_dir, resume)
    assert (out / "interrupted.txt").read_text() == message + "\n"

    status, _, stderr = finish(shlex.split(message.split("continue with: ", 1)[1]))
    assert status == 0, stderr
    assert_same_run(out, uninterrupted)
    assert not (out / "interrupted.txt").exists()


# ------------------------------------------------------------- checkpoints in-process
class Killed(BaseException):
    """Stands for SIGKILL in-process: no handler of the code under test runs."""


def one_variable_graph():
    """A session with one variable and an op adding 1 to it: after k steps it holds k."""
    with tf.Graph().as_default() as graph:
        weight = tf.get_variable("user_embedding", [3], initializer=tf.zeros_initializer())
        step = tf.assign_add(weight, tf.ones([3]))
    session = tf.Session(graph=graph)
    session.run(weight.initializer)
    return session, weight, step


def resume_args(out_dir):
    return parse_args(["--dataset", "x", "--out_dir", str(out_dir), "--epochs", "9"])


def state(args, epoch):
    return {"epoch": epoch, "history": [{"epoch": e} for e in range(1, epoch + 1)],
            "hyperparameters": checkpoint_module.hyperparameters(args)}


def saved_states(out_dir, best_epochs, epochs=3):
    """A session and its Checkpoints after saves at epochs 1..epochs (weight = epoch)."""
    args = resume_args(out_dir)
    session, weight, step = one_variable_graph()
    checkpoints = Checkpoints(str(out_dir), log=lambda *a: None)
    for epoch in range(1, epochs + 1):
        session.run(step)
        checkpoints.save(session, state(args, epoch), best=epoch in best_epochs)
    return args, session, weight, checkpoints


def resumed(out_dir, session, weight):
    """(state, what load_last printed, the restored weight) in a fresh Checkpoints."""
    printed = []
    checkpoints = Checkpoints(str(out_dir), log=printed.append)
    loaded = checkpoints.load_last(resume_args(out_dir))
    session.run(weight.assign([-1.0, -1.0, -1.0]))
    checkpoints.restore_last(session)
    return loaded, printed, session.run(weight)[0]


def test_kill_hook_at_every_save_stage_keeps_a_resumable_state(tmp_path, monkeypatch):
    def kill():
        raise Killed()

    monkeypatch.setattr(checkpoint_module, "kill_this_process", kill)
    for stage in SAVE_STAGES:
        out = tmp_path / stage
        monkeypatch.delenv(KILL_HOOK, raising=False)
        args, session, weight, checkpoints = saved_states(out, best_epochs={1}, epochs=1)
        monkeypatch.setenv(KILL_HOOK, stage + ":2")  # the second save from here: epoch 3
        session.run(weight.assign([2.0, 2.0, 2.0]))
        checkpoints.save(session, state(args, 2), best=True)
        session.run(weight.assign([3.0, 3.0, 3.0]))
        with pytest.raises(Killed):
            checkpoints.save(session, state(args, 3), best=True)
        monkeypatch.delenv(KILL_HOOK)
        kept = 3 if stage == "after_last" else 2
        loaded, _, value = resumed(out, session, weight)
        assert (loaded["epoch"], value) == (kept, kept), stage
        # The pointers agree with the state resumed (best.json too, written first).
        assert pointer_epochs(out) == {"last": kept, "best": kept}, stage
        assert leftovers(out) == [], stage
        if kept == 2:  # the run goes on: epoch 3 again, then 4
            for epoch in (3, 4):
                session.run(weight.assign([float(epoch)] * 3))
                Checkpoints(str(out)).save(session, state(args, epoch), best=epoch == 3)
            assert sorted(os.listdir(str(out / "checkpoints"))) == [
                "best.json", "epoch-000003", "epoch-000004", "last.json"], stage
            assert pointer_epochs(out) == {"last": 4, "best": 3}


def test_kill_hook_setting_is_checked(tmp_path, monkeypatch):
    args, session, _, checkpoints = saved_states(tmp_path, best_epochs={1}, epochs=1)
    for bad in ("after_state:1", "tf_files", "tf_files:0", "tf_files:x"):
        monkeypatch.setenv(KILL_HOOK, bad)
        with pytest.raises(ValueError, match=KILL_HOOK):
            checkpoints.save(session, state(args, 2), best=False)


def flip_byte(path, offset):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def truncate(path, size):
    with open(path, "r+b") as handle:
        handle.truncate(size)


def state_file(out_dir, epoch, name):
    return os.path.join(str(out_dir), "checkpoints", "epoch-%06d" % epoch, name)


@pytest.mark.parametrize("damage, says", [
    (lambda out: truncate(state_file(out, 3, "state.json"), 30),
     "state.json is damaged (not valid JSON: "),
    (lambda out: write_json_atomically(state_file(out, 3, "state.json"), {"epoch": 3}),
     "state.json is damaged (no history, hyperparameters)"),
    (lambda out: flip_byte(state_file(out, 3, "model.data-00000-of-00001"), 5),
     "model.data-00000-of-00001 is damaged (its SHA-256 differs from the one recorded"),
    (lambda out: truncate(state_file(out, 3, "model.index"), 10),
     "model.index is damaged (10 bytes, "),
    (lambda out: os.remove(state_file(out, 3, "model.index")), "model.index is missing"),
    (lambda out: os.remove(state_file(out, 3, "manifest.json")),
     "manifest.json is missing or unreadable"),
])
def test_damaged_state_is_named_and_the_previous_one_used(tmp_path, damage, says):
    # Best at epochs 1 and 3: a fallback to 2 must point best.json back at epoch 1.
    _, session, weight, _ = saved_states(tmp_path, best_epochs={1, 3})
    damage(tmp_path)
    loaded, printed, value = resumed(tmp_path, session, weight)
    assert (loaded["epoch"], value) == (2, 2.0)
    bad = "warning: %s" % os.path.join(str(tmp_path), "checkpoints", "epoch-000003")
    assert printed[0].startswith(bad) and says in printed[0], printed
    assert printed[1] == "falling back to the previous complete checkpoint %s (epoch 2)" % (
        os.path.join(str(tmp_path), "checkpoints", "epoch-000002"))
    assert pointer_epochs(tmp_path) == {"last": 2, "best": 1}


def test_damaged_pointer_and_no_intact_state(tmp_path):
    _, session, weight, _ = saved_states(tmp_path, best_epochs={1})
    last = os.path.join(str(tmp_path), "checkpoints", "last.json")
    with open(last, "w") as handle:
        handle.write('{"directory": "epo')
    loaded, printed, value = resumed(tmp_path, session, weight)
    assert (loaded["epoch"], value) == (3, 3.0)  # the newest intact state
    assert printed[0].startswith("warning: %s is damaged (not valid JSON" % last)
    assert pointer_epochs(tmp_path) == {"last": 3, "best": 1}
    for epoch in (2, 3):  # what is kept: last, the one before it, best
        truncate(state_file(tmp_path, epoch, "state.json"), 3)
    truncate(state_file(tmp_path, 1, "model.index"), 3)
    with pytest.raises(InputError) as caught:
        resumed(tmp_path, session, weight)
    message = str(caught.value)
    assert message.startswith("--resume: no intact checkpoint in %s" % os.path.dirname(last))
    for epoch, name in ((3, "state.json"), (2, "state.json"), (1, "model.index")):
        assert state_file(tmp_path, epoch, name) in message


@pytest.mark.parametrize("shapes, says", [
    ({"user_embedding": [3], "item_embedding": [2]}, "variable item_embedding is missing"),
    ({"user_embedding": [4]}, "variable user_embedding has shape [3], the model needs [4]"),
])
def test_resuming_into_another_model_is_an_input_error(tmp_path, shapes, says):
    saved_states(tmp_path, best_epochs={1}, epochs=1)
    with tf.Graph().as_default() as graph:
        for name, shape in shapes.items():
            tf.get_variable(name, shape, initializer=tf.zeros_initializer())
        init = tf.global_variables_initializer()
    session = tf.Session(graph=graph)
    session.run(init)
    checkpoints = Checkpoints(str(tmp_path), log=lambda *a: None)
    assert checkpoints.load_last(resume_args(tmp_path))["epoch"] == 1
    with pytest.raises(InputError) as caught:
        checkpoints.restore_last(session)
    assert str(caught.value) == "%s: %s" % (checkpoints.path("last"), says)


@pytest.mark.parametrize("bad, count", [(np.nan, "2 NaN and 0 infinite"),
                                        (np.inf, "0 NaN and 2 infinite")])
def test_init_checkpoint_with_non_finite_weights_is_refused(tmp_path, bad, count):
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    values[1, 0] = values[2, 1] = bad
    with tf.Graph().as_default() as graph:
        good = tf.get_variable("user_embedding", initializer=np.ones((4, 2), np.float32))
        broken = tf.get_variable("item_embedding", initializer=values)
        saver = tf.train.Saver()
        init = tf.global_variables_initializer()
    session = tf.Session(graph=graph)
    session.run(init)
    prefix = saver.save(session, str(tmp_path / "model"))
    with pytest.raises(InputError) as caught:
        restore_variables(session, [good, broken], prefix)
    assert str(caught.value) == ("%s: variable item_embedding holds %s values (of 6); a model "
                                 "cannot start from it" % (prefix, count))
    session.run(good.assign(np.zeros((4, 2), np.float32)))
    restore_variables(session, [good], prefix)  # the finite variable alone restores
    np.testing.assert_array_equal(session.run(good), np.ones((4, 2)))


# ------------------------------------------------------------------------ full disk
@pytest.fixture
def full_disk(monkeypatch):
    """Files opened by utility.common.atomic take ``room[0]`` bytes, then fail with ENOSPC."""
    room = [10]
    real_open = open

    class FillingHandle(object):
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            if len(data) > room[0]:
                self.handle.write(data[:room[0]])
                room[0] = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            room[0] -= len(data)
            return self.handle.write(data)

        def writelines(self, lines):
            for line in lines:
                self.write(line)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            self.handle.close()

    monkeypatch.setattr(atomic, "open", lambda *a, **k: FillingHandle(real_open(*a, **k)),
                        raising=False)
    return room


def test_full_disk_while_writing_results_keeps_the_previous(tmp_path, full_disk):
    path = tmp_path / "results.json"
    path.write_text('{"final": 1}')
    with pytest.raises(DiskFullError) as caught:
        write_results(str(tmp_path), {"final": 2, "history": list(range(100))})
    assert str(caught.value) == ("no space left on device while writing %s; the previous "
                                 "results.json is intact" % path)
    assert path.read_text() == '{"final": 1}' and os.listdir(str(tmp_path)) == ["results.json"]
    with pytest.raises(DiskFullError, match="new.json; nothing was written$"):
        write_json_atomically(str(tmp_path / "new.json"), {"a": 1})
    assert os.listdir(str(tmp_path)) == ["results.json"]


def test_full_disk_in_make_demo_and_prepare_data_leaves_no_partial_file(tmp_path, full_disk):
    full_disk[0] = 5000
    with pytest.raises(DiskFullError, match="no space left on device while writing .*txt"):
        make_demo(str(tmp_path / "demo"), n_users=20, n_items=100, log=lambda *a: None)
    written = sorted(os.listdir(str(tmp_path / "demo")))
    assert written and not [name for name in written if is_temporary(name)]
    for name in written:  # what was written is complete
        assert (tmp_path / "demo" / name).read_text().endswith("\n")
    full_disk[0] = 3
    with pytest.raises(DiskFullError, match="blob.bin; nothing was written$"):
        atomic_write(str(tmp_path / "blob.bin"), lambda handle: handle.write(b"0123456789"))
    assert not (tmp_path / "blob.bin").exists()


def test_other_write_failures_remove_the_temporary_file(tmp_path):
    def fail(handle):
        handle.write("half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        atomic.write_atomically(str(tmp_path / "a.txt"), fail)
    with pytest.raises(InputError, match="cannot write .*nowhere/a.txt: No such file"):
        atomic.write_atomically(str(tmp_path / "nowhere" / "a.txt"), lambda handle: None)
    assert os.listdir(str(tmp_path)) == []
    atomic.write_atomically(str(tmp_path / "a.txt"), lambda handle: handle.write("x\n"))
    assert (tmp_path / "a.txt").read_text() == "x\n" and os.listdir(str(tmp_path)) == ["a.txt"]


def test_full_disk_while_saving_a_checkpoint_keeps_the_previous(tmp_path, full_disk,
                                                                monkeypatch):
    full_disk[0] = 1 << 30
    args, session, weight, checkpoints = saved_states(tmp_path, best_epochs={1}, epochs=2)
    previous = os.path.join(str(tmp_path), "checkpoints", "epoch-000002")
    third = os.path.join(str(tmp_path), "checkpoints", "epoch-000003")
    session.run(weight.assign([3.0, 3.0, 3.0]))
    full_disk[0] = 100  # state.json does not fit
    with pytest.raises(DiskFullError) as caught:
        checkpoints.save(session, state(args, 3), best=True)
    assert str(caught.value) == ("no space left on device while writing %s; the previous "
                                 "checkpoint %s is intact" % (third, previous))

    def tf_disk_full(saver, session, prefix, **kwargs):  # TensorFlow's own writer fails
        with open(prefix + ".index", "wb") as handle:
            handle.write(b"\x00" * 7)
        raise tf.errors.ResourceExhaustedError(None, None, prefix + ".index; " +
                                               os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tf.train.Saver, "save", tf_disk_full)
    with pytest.raises(DiskFullError) as caught:
        checkpoints.save(session, state(args, 3), best=True)
    assert str(caught.value).endswith("the previous checkpoint %s is intact" % previous)
    assert leftovers(tmp_path) == []
    assert sorted(os.listdir(os.path.join(str(tmp_path), "checkpoints"))) == [
        "best.json", "epoch-000001", "epoch-000002", "last.json"]
    loaded, printed, value = resumed(tmp_path, session, weight)
    assert (loaded["epoch"], value, printed) == (2, 2.0, [])


# ------------------------------------------------------------------- one run per folder
HOLD = ("import os, sys; sys.path.insert(0, %r); from utility.run.run_lock import RunLock; "
        "RunLock(sys.argv[1]).acquire(); print('held', flush=True); " % REPO)


def test_second_run_is_refused_while_the_first_holds_the_folder(data_path, tmp_path):
    out = str(tmp_path / "out")
    holder = subprocess.Popen([sys.executable, "-c", HOLD + "sys.stdin.read()", out],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              universal_newlines=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(InputError) as caught:
            main.main(["--data_path", data_path, "--out_dir", out] + FLAGS)
        with open(os.path.join(out, LOCK_FILE)) as handle:
            recorded = json.load(handle)
    finally:
        holder.communicate("")
    assert recorded["pid"] == holder.pid and recorded["command"].endswith(" %s" % out)
    assert str(caught.value) == (
        "--out_dir %s is in use by another run (pid %d on host %s, started %s: %s); wait for "
        "it to end or choose another --out_dir" % (out, holder.pid, recorded["host"],
                                                   recorded["started"], recorded["command"]))
    assert holder.returncode == 0
    with RunLock(out):  # released when its holder ended
        pass
    assert open(os.path.join(out, LOCK_FILE)).read() == ""  # emptied on a clean release


def test_lock_is_released_by_a_crash_and_between_runs(tmp_path):
    out = str(tmp_path / "out")
    crashed = subprocess.run([sys.executable, "-c", HOLD + "os.kill(os.getpid(), 9)", out])
    assert crashed.returncode == -signal.SIGKILL
    with open(os.path.join(out, LOCK_FILE)) as handle:  # still names the dead holder
        assert json.load(handle)["command"].endswith(" %s" % out)
    assert holder(out) is None  # ... but nobody holds it
    first = RunLock(out).acquire()  # the stale file of a dead holder does not block
    assert holder(out)["pid"] == os.getpid()
    with pytest.raises(InputError, match="pid %d on host " % os.getpid()):
        RunLock(out).acquire()
    first.release()
    assert holder(out) is None and holder(str(tmp_path / "never")) is None
    with RunLock(out):
        pass


def test_a_probe_of_the_lock_does_not_make_a_starting_run_fail(tmp_path):
    out = str(tmp_path)
    with RunLock(out):
        pass
    probe = os.open(os.path.join(out, LOCK_FILE), os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)  # holder() takes this for an instant
    threading.Timer(0.05, os.close, [probe]).start()
    with RunLock(out):  # waits the probe out instead of calling the folder in use
        assert holder(out)["pid"] == os.getpid()
