"""The runs of an experiment: their directories, main.py command lines and state on disk.

A run is an ordinary ``main.py`` training in ``<out>/NAME/D/<config>/seed-S/``; every run is
started with ``--resume``, so an interrupted one continues from its last checkpoint and a
new one starts from scratch. A run is finished when its results.json exists and records
the settings this call asks for. A new run whose settings and seed another experiment under
the same ``--out`` has already finished (MCLN's full model is a row of Table 2, 3, 4 and 5
alike; Table 4's no_inter is Table 3's vt under another name on image-and-text data) is
copied from there instead of trained again.
"""
import collections
import glob
import json
import os
import shlex
import shutil
import sys

from experiments.candidates import shared_negatives
from experiments.main_flags import main_hyperparameters
from utility.common.atomic import write_json_atomically
from utility.common.errors import InputError
from utility.run.checkpoint import read_json_checked

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# config: catalogue.Config; argv: main.py's flags; settings: what the run's results.json
# records under "hyperparameters"; state: new | resume | extend | finished.
Run = collections.namedtuple("Run", "config seed directory argv settings state")
# command: the argv prefix that trains one run; hyperparameters(argv): what that run's
# results.json records under "hyperparameters"; candidates(base_argv, seed, folder): the
# flags giving every run of that seed the same evaluation negatives (None: none given).
Trainer = collections.namedtuple("Trainer", "command hyperparameters candidates",
                                 defaults=(None,))
# Settings a run may change and still be continued (see --resume in main.py); epochs and
# patience decide whether it is finished, the paths do not matter.
CONTINUABLE = ("epochs", "patience")
PATHS = ("data_path", "out_dir")
# Written into a run's directory when a scheduler (ASHA) ended it before --epochs: the run
# counts as finished for the epochs that were asked for then.
STOPPED_FILE = "stopped.json"
# Where the runner writes the evaluation negatives shared by the runs (experiments/candidates.py).
NEGATIVES_FOLDER = "negatives"


def main_trainer():
    """main.py in this interpreter."""
    return Trainer([sys.executable, os.path.join(REPO, "main.py")], main_hyperparameters,
                   shared_negatives)


def run_argv(base_argv, config, seed, directory, threads):
    """main.py's flags for one run: the dataset and the user's flags, the configuration's
    flags, then the runner's own (seed, directory, resume, threads)."""
    argv = list(base_argv)
    for flag, value in config.flags:
        argv += [flag, str(value)]
    return argv + ["--seed", str(seed), "--out_dir", directory, "--resume",
                   "--threads", str(threads)]


def _jsonable(value):
    return json.loads(json.dumps(value))


def state(directory, expected):
    """new | resume | extend | finished for the run in ``directory`` that should record the
    hyperparameters ``expected``; InputError when it was run with other settings. A run
    that stopped early (--patience) under a smaller --epochs is finished: a larger cap with
    the same patience stops at the same epoch with the same figures."""
    results_path = os.path.join(directory, "results.json")
    if not os.path.exists(results_path):
        return "resume" if os.path.isdir(os.path.join(directory, "checkpoints")) else "new"
    with open(results_path) as f:
        results = json.load(f)
    stored = results.get("hyperparameters", {})
    stopped_path = os.path.join(directory, STOPPED_FILE)
    if os.path.exists(stopped_path):
        with open(stopped_path) as f:
            stored = dict(stored, epochs=json.load(f)["requested_epochs"])
    expected = _jsonable(expected)
    from utility.config.flags import changed_settings
    changed = changed_settings(stored, expected, free=CONTINUABLE + PATHS)
    if changed:
        raise InputError("%s was run with other settings (%s); remove it or choose another "
                         "--out" % (directory, ", ".join("%s %s, now %s" % (
                             key, stored.get(key), expected.get(key)) for key in changed)))
    if stored.get("epochs", 0) > expected.get("epochs", 0):
        raise InputError("%s already ran %s epochs, more than --epochs %s; remove it or "
                         "choose another --out" % (directory, stored["epochs"],
                                                   expected["epochs"]))
    same = all(stored.get(key) == expected.get(key) for key in CONTINUABLE)
    stopped_before_the_cap = bool(results.get("stopped_early_at_epoch")) and \
        stored.get("patience") == expected.get("patience")
    return "finished" if same or stopped_before_the_cap else "extend"


def plan_runs(out_dir, base_argv, configs, seeds, threads, trainer):
    """Every (config, seed) as a Run, seed by seed (so the first seed of every configuration
    finishes first), each with its state on disk; every run of a seed gets the same
    evaluation negatives when the trainer provides them."""
    runs = []
    for seed in seeds:
        # A configuration that names its own dataset (the spurious sweep's, one per rho)
        # shares negatives with the configurations on that dataset only.
        negatives = {}
        for config in configs:
            dataset = dict(config.flags).get("--dataset")
            if dataset not in negatives:
                data_argv = list(base_argv) + (["--dataset", dataset] if dataset else [])
                folder = os.path.join(out_dir, NEGATIVES_FOLDER, *([dataset] if dataset else []))
                negatives[dataset] = trainer.candidates(data_argv, seed, folder) \
                    if trainer.candidates else []
            seed_argv = list(base_argv) + negatives[dataset]
            directory = os.path.join(out_dir, config.name, "seed-%d" % seed)
            argv = run_argv(seed_argv, config, seed, directory, threads)
            settings = trainer.hyperparameters(argv)
            runs.append(Run(config, seed, directory, argv, settings,
                            state(directory, settings)))
    return runs


def finished_twin(out_root, dataset, run):
    """A finished run elsewhere under ``out_root`` (any experiment, any configuration) that
    finished the settings ``run`` asks for (state), seed included; None if there is none."""
    pattern = os.path.join(out_root, "*", dataset, "*", "seed-%d" % run.seed, "results.json")
    for path in sorted(glob.glob(pattern)):
        candidate = os.path.dirname(path)
        if os.path.abspath(candidate) == os.path.abspath(run.directory) or os.path.exists(
                os.path.join(candidate, STOPPED_FILE)):  # ASHA cut it short
            continue
        try:
            found = state(candidate, run.settings)
        except InputError:  # other settings
            continue
        if found == "finished":
            return candidate
    return None


def twin_in_training(run, out_root, dataset, hyperparameters):
    """The directory under ``out_root`` (another experiment or configuration) where a
    running main.py trains exactly the settings and seed of the new ``run`` (its lock's
    command line parsed by ``hyperparameters``), or None. Waiting for it and copying its
    result saves training the same run twice when two runners share an ``--out``."""
    if run.state != "new":
        return None
    from utility.config.flags import changed_settings
    from utility.run.run_lock import LOCK_FILE, holder
    expected = _jsonable(run.settings)
    pattern = os.path.join(out_root, "*", dataset, "*", "seed-%d" % run.seed, LOCK_FILE)
    for path in sorted(glob.glob(pattern)):
        candidate = os.path.dirname(path)
        if os.path.abspath(candidate) == os.path.abspath(run.directory):
            continue
        record = holder(candidate)
        if not record or "command" not in record:
            continue
        try:  # [python, main.py, flags...]
            settings = _jsonable(hyperparameters(shlex.split(record["command"])[2:]))
        except (InputError, ValueError):  # another version's flags, or a damaged record
            continue
        if not changed_settings(settings, expected, free=PATHS):
            return candidate
    return None


def _record_asked_cap(results, asked):
    """Record --epochs ``asked`` in the ``results`` of a run that stopped early under a
    smaller cap (a larger one with the same patience stops at the same epoch); the reason,
    or "" when the caps agree or no early stop is recorded (a scheduler's cut keeps its cap
    in stopped.json)."""
    cap = results["hyperparameters"].get("epochs")
    if cap == asked or not results.get("stopped_early_at_epoch"):
        return ""
    results["hyperparameters"]["epochs"] = asked
    return " (stopped early at epoch %d of its %s; --epochs %s stops there too)" % (
        results["stopped_early_at_epoch"], cap, asked)


def _record_asked_variant(results, asked):
    """Record variant ``asked`` in the ``results`` of a twin trained under another name of
    the same model (model.variants.same_model); the reason, or "" when the names agree."""
    trained = results["hyperparameters"].get("variant")
    if asked is None or trained in (None, asked):  # None: recorded before --variant
        return ""
    results["hyperparameters"]["variant"] = results["variant"] = asked
    results["trained_as_variant"] = trained
    return " (as variant %s, the same model on %s data)" % (
        trained, results["hyperparameters"].get("modalities"))


def _record_as_asked(results_path, settings):
    """Record in a finished run's results.json the --epochs and --variant of ``settings``
    where the run computed the same under other values (see the two recorders); the
    reasons, or ""."""
    with open(results_path) as f:
        results = json.load(f)
    why = _record_asked_cap(results, settings.get("epochs")) + \
        _record_asked_variant(results, settings.get("variant"))
    if why:
        write_json_atomically(results_path, results)
    return why


def copy_finished_twin(run, out_root, dataset):
    """Copy a finished twin of the new ``run`` (finished_twin) into its directory; the line
    saying so, or None (no twin, or ``run`` is not new). A twin that stopped early under a
    smaller cap, or was trained under another variant name of the same model, is recorded
    with ``run``'s --epochs and --variant, which would have run the same."""
    twin = finished_twin(out_root, dataset, run) if run.state == "new" else None
    if twin is None:
        return None
    partial = run.directory + ".copying"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(twin, partial)
    why = _record_as_asked(os.path.join(partial, "results.json"), run.settings)
    shutil.rmtree(run.directory, ignore_errors=True)  # an empty or log-only start
    os.rename(partial, run.directory)
    return "reused %s seed %d: the same settings finished in %s%s" % (
        run.config.name, run.seed, os.path.relpath(twin, out_root), why)


def keep_stopped_run(run):
    """Record the --epochs asked for in a finished run of this folder that had stopped early
    under a smaller cap (state: it would stop at the same epoch again); the line saying so,
    or None when the run is not finished or its cap is the one asked for."""
    if run.state != "finished":
        return None
    why = _record_as_asked(os.path.join(run.directory, "results.json"), run.settings)
    return "kept %s seed %d as finished%s" % (run.config.name, run.seed, why) if why else None


def reuse_finished_twins(runs, out_root, dataset, copy=True):
    """(``runs`` with each run that stopped early under a smaller cap recorded with the cap
    asked for (keep_stopped_run) and, with ``copy``, each new run that has a finished twin
    copied from it and finished; a line for each)."""
    planned, lines = [], []
    for run in runs:
        line = keep_stopped_run(run) or (
            copy_finished_twin(run, out_root, dataset) if copy else None)
        if line is None:
            planned.append(run)
            continue
        lines.append(line)
        planned.append(run._replace(state="finished"))
    return planned, lines


def _progress_so_far(run):
    """" after epoch E of N" for a run to resume from its last checkpoint, " from N to M
    epochs" for one to extend; "" when its files do not say (main.py decides then)."""
    epochs = run.settings.get("epochs")
    if run.state == "resume":
        pointer, _ = read_json_checked(
            os.path.join(run.directory, "checkpoints", "last.json"), ("epoch",))
        return " after epoch %s of %s" % (pointer["epoch"], epochs) if pointer else ""
    if run.state == "extend":
        results, _ = read_json_checked(os.path.join(run.directory, "results.json"),
                                       ("hyperparameters",))
        return " from %s to %s epochs" % (results["hyperparameters"].get("epochs"), epochs) \
            if results else ""
    return ""


def plan_lines(runs, out_root, dataset, reuse=True, hyperparameters=None):
    """What a call would do with ``runs``, one line per run and a count, touching nothing:
    finished, copied from a finished twin (``reuse``), waiting for a twin another process
    is training (``reuse`` and ``hyperparameters``, see twin_in_training), or trained (new,
    resumed from its checkpoint, or extended to a larger --epochs)."""
    lines, counts = [], collections.Counter()
    for run in runs:
        twin = finished_twin(out_root, dataset, run) if reuse and run.state == "new" else None
        training = twin_in_training(run, out_root, dataset, hyperparameters) \
            if reuse and hyperparameters and run.state == "new" and not twin else None
        if twin:
            what, counted = "copy from %s" % os.path.relpath(twin, out_root), "copy"
        elif training:
            what, counted = "wait for %s, training now, then copy it" % os.path.relpath(
                training, out_root), "wait"
        else:
            what, counted = run.state + _progress_so_far(run), run.state
        counts[counted] += 1
        lines.append("%s seed %d: %s" % (run.config.name, run.seed, what))
    trained = [state for state in ("new", "resume", "extend") if counts[state]]
    lines.append("%d runs: %d finished, %d to copy, %s%d to train%s; nothing was trained, "
                 "copied or written" % (
                     len(runs), counts["finished"], counts["copy"],
                     "%d waiting for a twin in training, " % counts["wait"]
                     if counts["wait"] else "",
                     sum(counts[state] for state in trained),
                     " (%s)" % ", ".join("%d %s" % (counts[state], state)
                                         for state in trained) if trained else ""))
    return lines
