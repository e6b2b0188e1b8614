"""Checkpoints: restoring model variables by name (e.g. the release's), and the training
state of a run under ``<out_dir>/checkpoints`` for ``--resume``.

Layout: each saved state is a directory ``epoch-NNNNNN/`` holding a TF checkpoint ``model``
(every global variable: the model's, under the release's names, and Adam's slots and beta
powers), ``state.json`` (epoch, history, hyperparameters, RNG states) and ``manifest.json``
(the size and SHA-256 of each of those files, and which state was the best when this one
was written). ``last.json`` and ``best.json`` name the directory of the last and of the
best state; one directory serves both when the last evaluation was the best.

A state is written to a temporary directory that is renamed once complete (the manifest is
its last file), then the pointers are replaced by a rename each, best before last: a crash
at any moment leaves the previous pointers and everything they name intact. Kept on disk:
the states the pointers name and the newest complete state before the last one, the
fallback should the last be damaged (and the best state when that one was written); older
states and leftovers of crashes are deleted.

``--resume`` verifies a state before trusting it (state.json parses and has its keys, every
file matches its manifest); a damaged one is reported, naming the bad file, and the newest
intact state before it is used instead.
"""
import json
import os
import random
import re
import shutil
import signal
import time

import numpy as np

from utility.common.atomic import (disk_full, is_disk_full, is_temporary, remove_quietly,
                                   sha256_of, temporary_path, write_atomically,
                                   write_json_atomically)
from utility.common.errors import InputError
from utility.config.flags import changed_settings, hyperparameters, resumable_options
from utility.run.run_lock import command_line

POINTERS = ("best", "last")  # written in this order, so best.json is never behind
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
MODEL_PREFIX = "model"
STATE_KEYS = ("epoch", "history", "hyperparameters")
STATE_NAME = re.compile(r"^epoch-\d{6}$")

# Test hooks: MCLN_TEST_KILL_AT=<stage>:<n> SIGKILLs the process the n-th time a save
# reaches <stage>, so that tests can stop a save at each of its steps;
# MCLN_TEST_WAIT_AT=<stage>:<n> makes it wait there instead, so that a signal a test sends
# surely finds it running.
KILL_HOOK = "MCLN_TEST_KILL_AT"
WAIT_HOOK = "MCLN_TEST_WAIT_AT"
WAIT_SECONDS = 600
SAVE_STAGES = ("tf_files", "state_json", "manifest", "before_rename", "after_rename",
               "before_best", "after_best", "before_last", "after_last")


def _tf():
    """TensorFlow, imported on first use: pointers, verification and the Ctrl-C message
    do without it, so that main.py can use them before it starts TensorFlow."""
    import tensorflow.compat.v1 as tf
    return tf


def variable_name(variable):
    return variable.op.name


def checkpoint_prefix(path):
    """The TF checkpoint prefix behind ``path``: a prefix itself, a state directory
    ``epoch-NNNNNN``, or a ``checkpoints`` folder (whose best state is meant)."""
    best_pointer = os.path.join(path, "best.json")
    if os.path.isfile(best_pointer):
        directory, problem = read_pointer(best_pointer)
        if problem:
            raise InputError(problem)
        path = os.path.join(path, directory)
    if os.path.isfile(os.path.join(path, MODEL_PREFIX + ".index")):
        return os.path.join(path, MODEL_PREFIX)
    return path


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def restore_variables(session, variables, checkpoint_path):
    """Restore ``variables`` from ``checkpoint_path`` by name; extra entries are ignored.

    Every requested variable must be present with the same shape and hold only finite
    values: otherwise an InputError names it, before anything is assigned.
    """
    checkpoint_path = checkpoint_prefix(checkpoint_path)
    check_variables(checkpoint_path, variables, finite=True)
    with session.graph.as_default():
        saver = _tf().train.Saver({variable_name(v): v for v in variables})
    restore(saver, session, checkpoint_path)


def check_variables(checkpoint_path, variables, finite):
    """An InputError naming the first of ``variables`` the checkpoint lacks, holds with
    another shape or, if ``finite``, with NaN or infinite values."""
    tf = _tf()
    try:
        reader = tf.train.load_checkpoint(checkpoint_path)
    except (tf.errors.OpError, ValueError) as error:
        raise InputError("%s: cannot read checkpoint (%s)" % (checkpoint_path, first_line(error)))
    stored = reader.get_variable_to_shape_map()
    for variable in variables:
        name = variable_name(variable)
        if name not in stored:
            raise InputError("%s: variable %s is missing" % (checkpoint_path, name))
        if list(stored[name]) != variable.shape.as_list():
            raise InputError("%s: variable %s has shape %s, the model needs %s"
                             % (checkpoint_path, name, stored[name], variable.shape.as_list()))
        if finite:
            check_finite(checkpoint_path, name, reader.get_tensor(name))


def restore(saver, session, checkpoint_path):
    """``saver.restore``, its failures as an InputError naming the checkpoint."""
    try:
        saver.restore(session, checkpoint_path)
    except (_tf().errors.OpError, ValueError) as error:
        raise InputError("%s: cannot restore (%s)" % (checkpoint_path, first_line(error)))


def check_finite(checkpoint_path, name, values):
    """An InputError naming the variable if ``values`` hold NaN or infinite entries."""
    values = np.asarray(values)
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    raise InputError("%s: variable %s holds %d NaN and %d infinite values (of %d); a model "
                     "cannot start from it" % (checkpoint_path, name, np.isnan(values).sum(),
                                               np.isinf(values).sum(), values.size))


# ----------------------------------------------------------------------- RNG states
def numpy_rng_state(rng):
    name, keys, position, has_gauss, cached_gaussian = rng.get_state()
    return [name, keys.tolist(), int(position), int(has_gauss), float(cached_gaussian)]


def set_numpy_rng_state(rng, state):
    name, keys, position, has_gauss, cached_gaussian = state
    rng.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))


def python_rng_state():
    version, internal, gauss_next = random.getstate()
    return [version, list(internal), gauss_next]


def set_python_rng_state(state):
    version, internal, gauss_next = state
    random.setstate((version, tuple(internal), gauss_next))


# ----------------------------------------------------------------------- files
def _read_json(path):
    with open(path) as handle:
        return json.load(handle)


def read_json_checked(path, keys):
    """(the JSON object in ``path``, None), or (None, why it is unusable, naming it)."""
    try:
        value = _read_json(path)
    except OSError as error:
        return None, "%s is missing or unreadable (%s)" % (path, error.strerror or error)
    except ValueError as error:
        return None, "%s is damaged (not valid JSON: %s)" % (path, first_line(error))
    if not isinstance(value, dict):
        return None, "%s is damaged (not a JSON object)" % path
    missing = [key for key in keys if key not in value]
    if missing:
        return None, "%s is damaged (no %s)" % (path, ", ".join(missing))
    return value, None


def read_pointer(path):
    """(directory name, None) from a pointer file; (None, None) when there is none;
    (None, why it is unusable) when it is damaged."""
    if not os.path.exists(path):
        return None, None
    pointer, problem = read_json_checked(path, ("directory", "epoch"))
    if problem is None and not STATE_NAME.match(str(pointer["directory"])):
        problem = "%s is damaged (names %r)" % (path, pointer["directory"])
    return (None, problem) if problem else (pointer["directory"], None)


def file_records(folder):
    """{file name: {bytes, sha256}} of every file in ``folder``, for its manifest."""
    return {name: {"bytes": os.path.getsize(os.path.join(folder, name)),
                   "sha256": sha256_of(os.path.join(folder, name))}
            for name in sorted(os.listdir(folder))}


def mismatched_file(folder, records):
    """Why the first file of ``records`` that ``folder`` does not hold as recorded differs,
    naming it; None when all match."""
    for name, record in sorted(records.items()):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return "%s is missing" % path
        size = os.path.getsize(path)
        if size != record["bytes"]:
            return "%s is damaged (%d bytes, %d when saved)" % (path, size, record["bytes"])
        if sha256_of(path) != record["sha256"]:
            return "%s is damaged (its SHA-256 differs from the one recorded at save time)" % path
    return None


def kill_this_process():
    """Die at once, as from ``kill -9``: no handler, no cleanup."""
    os.kill(os.getpid(), signal.SIGKILL)


def wait_for_a_signal():
    time.sleep(WAIT_SECONDS)


def hook_point(hook):
    """(stage, n) from the test hook ``hook``, or None when it is not set."""
    setting = os.environ.get(hook)
    if not setting:
        return None
    stage, _, count = setting.partition(":")
    if stage not in SAVE_STAGES or not count.isdigit() or int(count) < 1:
        raise ValueError("%s must be <stage>:<n> with n >= 1 and a stage among %s, got %r"
                         % (hook, ", ".join(SAVE_STAGES), setting))
    return stage, int(count)


class Checkpoints(object):
    """The training states of a run in ``<out_dir>/checkpoints``; ``log`` prints what
    ``load_last`` finds wrong."""

    def __init__(self, out_dir, log=print):
        self.directory = os.path.join(out_dir, "checkpoints")
        self.log = log
        self._saver = None
        self._arrivals = {}  # (test hook, save stage) -> times reached while the hook is set

    def _saver_for(self, session):
        if self._saver is None:  # every global variable: model, Adam slots, beta powers
            with session.graph.as_default():
                self._saver = _tf().train.Saver(max_to_keep=None)
        return self._saver

    def _pointed(self, which):
        """The state directory ``which`` (last, best) names; None if absent or damaged."""
        return read_pointer(os.path.join(self.directory, which + ".json"))[0]

    def _write_pointer(self, which, name):
        write_json_atomically(os.path.join(self.directory, which + ".json"),
                              {"directory": name, "epoch": int(name[len("epoch-"):])})

    def path(self, which):
        """The TF checkpoint prefix of the ``last`` or ``best`` state, or None."""
        name = self._pointed(which)
        return None if name is None else os.path.join(self.directory, name, MODEL_PREFIX)

    def _reached(self, stage):
        for hook, act in ((KILL_HOOK, kill_this_process), (WAIT_HOOK, wait_for_a_signal)):
            point = hook_point(hook)
            if point is None or point[0] != stage:
                continue
            self._arrivals[hook, stage] = self._arrivals.get((hook, stage), 0) + 1
            if self._arrivals[hook, stage] == point[1]:
                act()

    def save(self, session, state, best):
        """Write ``state`` (a JSON-able dict with ``epoch``) and the graph's variables as the
        last state, and as the best one too when ``best``.

        A full disk raises a DiskFullError naming the state being written and the previous
        one, which stays intact; the partial state is removed.
        """
        name = "epoch-%06d" % state["epoch"]
        final = os.path.join(self.directory, name)
        temporary = temporary_path(final)
        try:
            os.makedirs(temporary)
            self._saver_for(session).save(session, os.path.join(temporary, MODEL_PREFIX),
                                          write_meta_graph=False, write_state=False)
            self._reached("tf_files")
            write_json_atomically(os.path.join(temporary, STATE_FILE), state)
            self._reached("state_json")
            manifest = {"files": file_records(temporary),
                        "best": name if best else self._pointed("best")}
            write_json_atomically(os.path.join(temporary, MANIFEST_FILE), manifest)
            self._reached("manifest")
            if os.path.isdir(final):  # named by no pointer: left by a crash or a fallback
                shutil.rmtree(final)
            self._reached("before_rename")
            os.rename(temporary, final)
            self._reached("after_rename")
            for which in POINTERS if best else ("last",):
                self._reached("before_" + which)
                self._write_pointer(which, name)
                self._reached("after_" + which)
        except Exception as error:  # not Ctrl-C, which like a crash leaves it to a sweep
            shutil.rmtree(temporary, ignore_errors=True)
            if is_disk_full(error):
                previous = self._pointed("last")
                raise disk_full(final, "the previous checkpoint %s is intact" % os.path.join(
                    self.directory, previous) if previous else "no earlier checkpoint exists")
            raise
        self._sweep(keep_states=self._needed_states())

    def _complete_states(self):
        """Names of the state directories that were renamed into place, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        return sorted(name for name in os.listdir(self.directory)
                      if STATE_NAME.match(name)
                      and os.path.isfile(os.path.join(self.directory, name, MANIFEST_FILE)))

    def _best_when_written(self, name):
        """The best state when state ``name`` was written, from its manifest (or None)."""
        manifest, _ = read_json_checked(os.path.join(self.directory, name, MANIFEST_FILE), ())
        return manifest.get("best") if manifest else None

    def _needed_states(self):
        """What the pointers name, the newest complete state before the last one, and the
        best state when that one was written (what a fallback to it points best.json at)."""
        last = self._pointed("last")
        needed = {last, self._pointed("best")}
        older = [name for name in self._complete_states() if last and name < last]
        if older:
            needed.update((older[-1], self._best_when_written(older[-1])))
        return needed

    def _sweep(self, keep_states=None):
        """Delete leftovers of crashes and, unless ``keep_states`` is None, every state
        directory not in it; other files are never touched."""
        for entry in os.listdir(self.directory):
            path = os.path.join(self.directory, entry)
            unneeded = keep_states is not None and STATE_NAME.match(entry) \
                and entry not in keep_states
            if not (is_temporary(entry) or unneeded):
                continue
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)

    def verify(self, name):
        """(the state of directory ``name``, None) when every file is as saved; otherwise
        (None, why not), naming the bad file."""
        folder = os.path.join(self.directory, name)
        if not os.path.isdir(folder):
            return None, "%s is missing" % folder
        state, problem = read_json_checked(os.path.join(folder, STATE_FILE), STATE_KEYS)
        if problem:
            return None, problem
        manifest, problem = read_json_checked(os.path.join(folder, MANIFEST_FILE), ("files",))
        if problem:
            return None, problem
        records = manifest["files"]
        for needed in (MODEL_PREFIX + ".index", STATE_FILE):
            if not isinstance(records, dict) or needed not in records:
                return None, "%s is damaged (no record of %s)" % (
                    os.path.join(folder, MANIFEST_FILE), needed)
        problem = mismatched_file(folder, records)
        return (None, problem) if problem else (state, None)

    def _newest_intact(self):
        """(name, state) of the newest intact state, starting at the one last.json names;
        reports each damaged one met on the way. None when there is nothing to resume."""
        last, problem = read_pointer(os.path.join(self.directory, "last.json"))
        if last is None and problem is None:
            return None
        if problem:
            self.log("warning: %s; looking for the newest intact checkpoint" % problem)
        older = [name for name in reversed(self._complete_states()) if last is None or name < last]
        problems = [problem] if problem else []
        for name in ([last] if last else []) + older:
            state, problem = self.verify(name)
            if state is not None:
                if problems:
                    self.log("falling back to the previous complete checkpoint %s (epoch %d)"
                             % (os.path.join(self.directory, name), state["epoch"]))
                return name, state
            self.log("warning: %s" % problem)
            problems.append(problem)
        raise InputError("--resume: no intact checkpoint in %s (%s); remove it to start over"
                         % (self.directory, "; ".join(problems)))

    def _point_at(self, name):
        """Make the pointers agree with state ``name``: last names it, best names the state
        that was the best when it was written (absent if there was none)."""
        if self._pointed("last") != name:
            self._write_pointer("last", name)
        best = self._best_when_written(name)
        if self._pointed("best") == best:
            return
        if best:
            self._write_pointer("best", best)
        elif os.path.exists(os.path.join(self.directory, "best.json")):
            os.remove(os.path.join(self.directory, "best.json"))

    def load_last(self, args):
        """The newest intact state, checked against ``args``; None when there is none.

        Removes leftovers of crashes, and after a fallback points last.json (and
        best.json) at the state that will be continued.
        """
        found = self._newest_intact()
        if found is None:
            return None
        name, state = found
        saved, current = state["hyperparameters"], hyperparameters(args)
        changed = changed_settings(saved, current, free=resumable_options())
        if changed:
            key = changed[0]
            raise InputError("--resume: %s was written with --%s %s, this run has %s; "
                             "resume with the same settings" % (
                                 self.directory, key, saved.get(key), current.get(key)))
        if state["epoch"] > args.epochs:
            raise InputError("--resume: %s is at epoch %d, beyond --epochs %d"
                             % (self.directory, state["epoch"], args.epochs))
        self._sweep()
        self._point_at(name)
        return state

    def restore_last(self, session):
        """Restore every variable of the last state (see load_last) into the session."""
        prefix = self.path("last")
        saver = self._saver_for(session)
        with session.graph.as_default():
            check_variables(prefix, _tf().global_variables(), finite=False)
        restore(saver, session, prefix)


def interruption_message(args, argv):
    """What Ctrl-C should tell: the last checkpoint in ``args.out_dir`` and the command that
    continues from it (``argv``: the run's sys.argv)."""
    if args.no_checkpoints:
        return "nothing was saved (--no_checkpoints)"
    last = Checkpoints(args.out_dir).path("last")
    if last is None:
        return "no checkpoint was written yet; start again with: %s" % command_line(argv)
    resume = list(argv) + ([] if "--resume" in argv else ["--resume"])
    return "the last checkpoint is %s; continue with: %s" % (os.path.dirname(last),
                                                            command_line(resume))


INTERRUPTION_NOTE = "interrupted.txt"


def record_interruption(args, argv, word="interrupted"):
    """``interruption_message``, also written to ``<out_dir>/interrupted.txt``: the terminal
    that showed it may be gone (``| tee log`` dies with the Ctrl-C). Returns the message."""
    message = interruption_message(args, argv)
    if os.path.isdir(args.out_dir):
        try:
            write_atomically(os.path.join(args.out_dir, INTERRUPTION_NOTE),
                             lambda handle: handle.write("%s; %s\n" % (word, message)))
        except InputError:  # unwritable or full: the message still reaches the terminal
            pass
    return message


def clear_interruption(out_dir):
    """Remove the note of an earlier interruption (the run it describes has now finished)."""
    remove_quietly(os.path.join(out_dir, INTERRUPTION_NOTE))
