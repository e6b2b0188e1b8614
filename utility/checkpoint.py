"""Checkpoints: restoring model variables by name (e.g. the release's), and the training
state of a run under ``<out_dir>/checkpoints`` for ``--resume``.

Layout: each saved state is a directory ``epoch-NNNNNN/`` holding a TF checkpoint ``model``
(every global variable: the model's, under the release's names, and Adam's slots and beta
powers) and ``state.json`` (epoch, history, hyperparameters, RNG states). ``last.json`` and
``best.json`` name the directory of the last and of the best state; the same directory
serves both when the last evaluation was the best. A state is written to a temporary
directory that is renamed once complete, then the pointer is replaced by a rename: a crash
at any point leaves the previous pointer and everything it names intact. Directories no
pointer names (older states, leftovers of a crash) are deleted after each save.
"""
import json
import os
import random
import shutil

import numpy as np
import tensorflow.compat.v1 as tf

from utility.errors import InputError
from utility.parser import hyperparameters, resumable_options

POINTERS = ("last", "best")
STATE_FILE = "state.json"
MODEL_PREFIX = "model"


def variable_name(variable):
    return variable.op.name


def checkpoint_prefix(path):
    """The TF checkpoint prefix behind ``path``: a prefix itself, a state directory
    ``epoch-NNNNNN``, or a ``checkpoints`` folder (whose best state is meant)."""
    if os.path.isfile(os.path.join(path, "best.json")):
        path = os.path.join(path, _read_json(os.path.join(path, "best.json"))["directory"])
    if os.path.isfile(os.path.join(path, MODEL_PREFIX + ".index")):
        return os.path.join(path, MODEL_PREFIX)
    return path


def restore_variables(session, variables, checkpoint_path):
    """Restore ``variables`` from ``checkpoint_path`` by name; extra entries are ignored.

    Every requested variable must be present with the same shape: otherwise an InputError
    names it, before anything is assigned.
    """
    checkpoint_path = checkpoint_prefix(checkpoint_path)
    try:
        reader = tf.train.load_checkpoint(checkpoint_path)
    except (tf.errors.OpError, ValueError) as error:
        raise InputError("%s: cannot read checkpoint (%s)"
                         % (checkpoint_path, str(error).splitlines()[0]))
    stored = reader.get_variable_to_shape_map()
    for variable in variables:
        name = variable_name(variable)
        if name not in stored:
            raise InputError("%s: variable %s is missing" % (checkpoint_path, name))
        if list(stored[name]) != variable.shape.as_list():
            raise InputError("%s: variable %s has shape %s, the model needs %s"
                             % (checkpoint_path, name, stored[name], variable.shape.as_list()))
    with session.graph.as_default():
        saver = tf.train.Saver({variable_name(v): v for v in variables})
    saver.restore(session, checkpoint_path)


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


def write_json_atomically(path, value):
    """Write to a temporary name in the same folder, flush to disk, then rename."""
    temporary = "%s.tmp-%d" % (path, os.getpid())
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=1, default=float)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class Checkpoints(object):
    """The last and the best training state of a run, in ``<out_dir>/checkpoints``."""

    def __init__(self, out_dir):
        self.directory = os.path.join(out_dir, "checkpoints")
        self._saver = None

    def _saver_for(self, session):
        if self._saver is None:  # every global variable: model, Adam slots, beta powers
            with session.graph.as_default():
                self._saver = tf.train.Saver(max_to_keep=None)
        return self._saver

    def _pointer(self, which):
        path = os.path.join(self.directory, which + ".json")
        return _read_json(path) if os.path.isfile(path) else None

    def path(self, which):
        """The TF checkpoint prefix of the ``last`` or ``best`` state, or None."""
        pointer = self._pointer(which)
        return None if pointer is None else os.path.join(self.directory, pointer["directory"],
                                                         MODEL_PREFIX)

    def save(self, session, state, best):
        """Write ``state`` (a JSON-able dict with ``epoch``) and the graph's variables as the
        last state, and as the best one too when ``best``."""
        name = "epoch-%06d" % state["epoch"]
        final = os.path.join(self.directory, name)
        temporary = "%s.tmp-%d" % (final, os.getpid())
        for stale in (temporary, final):  # left by a crash (final: not named by a pointer)
            if os.path.isdir(stale):
                shutil.rmtree(stale)
        os.makedirs(temporary)
        self._saver_for(session).save(session, os.path.join(temporary, MODEL_PREFIX),
                                      write_meta_graph=False, write_state=False)
        write_json_atomically(os.path.join(temporary, STATE_FILE), state)
        os.rename(temporary, final)
        pointer = {"directory": name, "epoch": state["epoch"]}
        for which in POINTERS if best else ("last",):
            write_json_atomically(os.path.join(self.directory, which + ".json"), pointer)
        self._remove_unnamed()

    def _remove_unnamed(self):
        named = {pointer["directory"] for pointer in map(self._pointer, POINTERS) if pointer}
        for entry in os.listdir(self.directory):
            path = os.path.join(self.directory, entry)
            if os.path.isdir(path) and entry not in named:
                shutil.rmtree(path, ignore_errors=True)
            elif ".json.tmp-" in entry:
                os.remove(path)

    def load_last(self, args):
        """The last state written, checked against ``args``; None when there is none."""
        pointer = self._pointer("last")
        if pointer is None:
            return None
        state = _read_json(os.path.join(self.directory, pointer["directory"], STATE_FILE))
        saved, current = state["hyperparameters"], hyperparameters(args)
        for key in sorted(set(saved) | set(current)):
            if key not in resumable_options() and saved.get(key) != current.get(key):
                raise InputError("--resume: %s was written with --%s %s, this run has %s; "
                                 "resume with the same settings" % (
                                     self.directory, key, saved.get(key), current.get(key)))
        if state["epoch"] > args.epochs:
            raise InputError("--resume: %s is at epoch %d, beyond --epochs %d"
                             % (self.directory, state["epoch"], args.epochs))
        return state

    def restore_last(self, session):
        """Restore every variable of the last state (see load_last) into the session."""
        self._saver_for(session).restore(session, self.path("last"))
