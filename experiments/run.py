"""Rerun one of the paper's tables by command.

    python -m experiments.run NAME --dataset D [--seeds 0,1,2] [--epochs N] [--workers K]
        [--backend local|ray] [--out runs/experiments] [--configs a,b] [any main.py flag]

NAME: table2, table3, table4, table5, gcn_layers, formulation, control or spurious
(experiments/catalogue.py), or grid with --grid FLAG=V1,V2 (experiments/grid.py).
Every configuration and seed is an ordinary main.py run in ``<out>/NAME/D/<config>/seed-S/``;
finished runs are skipped, interrupted ones resume from their last checkpoint. Writes
``<out>/NAME/D/summary.csv``, ``summary.md``, ``summary.png`` and ``claims.csv`` (paired
verdicts, experiments/claims.py). See docs/experiments.md.
"""
import argparse
import functools
import os
import shlex
import subprocess
import sys
import time

from experiments import catalogue, explore, grid
from experiments.claims import claim_line
from experiments.local import run_local
from experiments.machine import describe_features
from experiments.main_flags import main_arguments
from experiments.progress import Progress
from experiments.runs import (STOPPED_FILE, copy_finished_twin, main_trainer, plan_lines,
                              plan_runs, reuse_finished_twins, twin_in_training)
from experiments.summary import duration, write_summary
from utility.common.errors import (INTERRUPTED_STATUS, InputError, exit_on_input_error,
                                   stop_on_sigterm)


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as InputError: one line, exit status 2."""

    def error(self, message):
        raise InputError(message)


def build_parser():
    parser = OneLineParser(
        prog="python -m experiments.run", allow_abbrev=False,
        description="Rerun one of the paper's experiments; flags not listed here go to "
                    "main.py (e.g. --valid --patience 5 --eval_protocol both).")
    add = parser.add_argument
    add("name", help="experiment: %s" % ", ".join(catalogue.EXPERIMENTS))
    add("--dataset", required=True, help="preset name or a folder under --data_path")
    add("--seeds", default="0", help="comma-separated seeds (default 0)")
    add("--epochs", type=int, help="epochs per run (default: the dataset's preset)")
    add("--workers", type=int, default=1, help="runs at once (default 1)")
    add("--threads", type=int,
        help="TensorFlow threads per run (default: the cores divided by --workers)")
    add("--backend", choices=("local", "ray"), default="local",
        help="local subprocesses, or Ray Tune trials")
    add("--out", default=os.path.join("runs", "experiments"),
        help="results go to <out>/NAME/DATASET (default runs/experiments)")
    add("--configs", help="comma-separated subset of the configurations to run (the "
                          "summary still covers every configuration with finished runs)")
    add("--data_path", default="Data", help="folder holding the datasets (default Data)")
    add("--no_reuse", action="store_true",
        help="train every run, even one whose settings and seed another experiment under "
             "--out has already finished (by default that run is copied)")
    add("--grid", action="append", metavar="FLAG=V1,V2",
        help="with the grid experiment: a main.py flag and the values to try; repeat it for "
             "more flags (every combination runs, into <out>/grid-<model>/DATASET)")
    add("--ray_address", default=None,
        help="with --backend ray: the cluster to join (default: start a local instance)")
    add("--asha", action="store_true",
        help="with --backend ray: stop weak trials early (ASHA on the selection metric)")
    add("--explore", action="store_true",
        help="with the grid experiment: search outward from the model's own settings on the "
             "first seed (the best cell's untried neighbours, until it has none), then run "
             "the --confirm best cells on every seed (experiments/explore.py)")
    add("--confirm", type=int, default=3,
        help="with --explore: how many of the best cells run on every seed (default 3)")
    add("--plan", action="store_true",
        help="list what the call would do with each run (finished, copied, new, resumed, "
             "extended) and exit: nothing is trained or written, no data prepared")
    return parser


def parse_seeds(text):
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError("--seeds must be comma-separated integers, got %r" % text)
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError("--seeds must name distinct seeds, got %r" % text)
    return seeds


def check_forwarded(forwarded, experiment):
    """Refuse main.py flags that the runner or the experiment sets itself."""
    own = {"--seed": "use --seeds", "--out_dir": "use --out",
           "--resume": "every run is resumed when it can be"}
    own.update((flag, "%s varies it" % experiment.name) for flag in experiment.sets)
    for token in forwarded:
        flag = token.split("=", 1)[0]
        if flag in own:
            raise InputError("%s is set by the runner (%s); drop it" % (flag, own[flag]))


def ensure_data(dataset, data_path):
    """Make or download a preset's data on first use; an unknown dataset is an error."""
    from utility.config.flags import PRESETS, SPURIOUS_PREFIX, dataset_preset
    preset = dataset_preset(dataset)
    folder = os.path.join(data_path, preset["folder"] if preset else dataset)
    if os.path.exists(os.path.join(folder, "train.txt")):
        return
    if preset is None:
        raise InputError("unknown dataset %r: not a preset (%s) and no %s" % (
            dataset, ", ".join(sorted(PRESETS)), os.path.join(folder, "train.txt")))
    if dataset.lower() == "demo":
        command = ["-m", "utility.make_demo", "--out", folder]
    elif preset["folder"].startswith(SPURIOUS_PREFIX):
        command = ["-m", "utility.data.spurious", "--rho",
                   preset["folder"][len(SPURIOUS_PREFIX):], "--out", folder]
    else:
        command = ["-m", "utility.prepare_data", dataset.lower(), "--data_path", data_path]
    print("preparing %s: python %s" % (folder, " ".join(command)))
    if subprocess.call([sys.executable] + command) != 0:
        raise InputError("could not prepare %s (see above)" % folder)


def select_configs(configs, text):
    if not text:
        return configs
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in [c.name for c in configs]]
    if unknown:
        raise InputError("--configs: unknown %s; this experiment has %s" % (
            ", ".join(unknown), ", ".join(c.name for c in configs)))
    return [c for c in configs if c.name in names]


def stopped_notes(runs):
    found = [r for r in runs if os.path.exists(os.path.join(r.directory, STOPPED_FILE))]
    return ["- stopped early by ASHA (figures of their last evaluation): %s" % ", ".join(
        "%s seed %d" % (r.config.name, r.seed) for r in found)] if found else []


def train(runs, n_seeds, prefix, options, threads, trainer, base):
    """Train the unfinished ``runs`` (finished twins copied first); returns (the progress
    reporter, None or the exit status of an interrupt, [(run, failure)])."""
    runs, reused = reuse_finished_twins(runs, options.out, options.dataset,
                                        copy=not options.no_reuse)
    todo = [r for r in runs if r.state != "finished"]
    progress = Progress(prefix, len(todo), options.workers, runs=todo)
    for line in reused:
        progress.note(line)
    progress.note("%d runs (%d configurations x %d seeds): %d finished, %d to train, "
                  "%d threads each, %d at once" % (len(runs), len(runs) // n_seeds, n_seeds,
                                                   len(runs) - len(todo), len(todo),
                                                   threads, options.workers))
    try:
        if options.backend == "ray":
            from experiments.ray_backend import run_ray
            asha = (base.select_metric, base.epochs, base.eval_interval) if options.asha \
                else None
            return progress, None, run_ray(runs, options.workers, threads, progress,
                                           options.ray_address, asha)
        reuse = busy = None
        if not options.no_reuse:
            reuse = functools.partial(copy_finished_twin, out_root=options.out,
                                      dataset=options.dataset)
            busy = functools.partial(twin_in_training, out_root=options.out,
                                     dataset=options.dataset,
                                     hyperparameters=trainer.hyperparameters)
        return progress, None, run_local(runs, options.workers, trainer, progress,
                                         reuse=reuse, busy=busy)
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM (stop_on_sigterm)
        progress.note("%s: the runs going were stopped; the same command resumes them from "
                      "their last checkpoint" % getattr(error, "word", "interrupted"))
        return progress, getattr(error, "status", INTERRUPTED_STATUS), []


def execute(options, forwarded, argv, trainer=None):
    """Plan, train and summarise; returns the exit status."""
    started = time.time()
    if options.name not in catalogue.EXPERIMENTS:
        raise InputError("unknown experiment %r; choose one of %s" % (
            options.name, ", ".join(catalogue.EXPERIMENTS)))
    if options.workers < 1:
        raise InputError("--workers must be at least 1, got %d" % options.workers)
    if options.asha and options.backend != "ray":
        raise InputError("--asha needs --backend ray")
    seeds = parse_seeds(options.seeds)
    if options.grid and options.name != "grid":
        raise InputError("--grid is for the grid experiment, not %s" % options.name)
    if options.explore and (options.name != "grid" or options.configs):
        raise InputError("--explore searches a grid: use it with the grid experiment and "
                         "without --configs")
    if options.confirm < 1:
        raise InputError("--confirm must be at least 1, got %d" % options.confirm)
    axes = grid.parse_axes(options.grid) if options.name == "grid" else ()
    if not options.plan:
        ensure_data(options.dataset, options.data_path)
    base_argv = ["--dataset", options.dataset, "--data_path", options.data_path] + (
        ["--epochs", str(options.epochs)] if options.epochs is not None else []) + forwarded
    base = main_arguments(base_argv)
    experiment, configs, claims = catalogue.plan(options.name, options.dataset,
                                                 base.modality_list, axes)
    check_forwarded(forwarded, experiment)
    folder = options.name
    if axes:
        if not base.valid:
            raise InputError("the grid experiment chooses on validation: add --valid")
        folder = "grid-" + base.model  # one folder per model, so grids do not mix
    for dataset in sorted(set(dict(c.flags)["--dataset"] for c in configs
                              if "--dataset" in dict(c.flags))):
        if not options.plan:
            ensure_data(dataset, options.data_path)  # a sweep over datasets (spurious)
    out_dir = os.path.join(options.out, folder, options.dataset)
    threads = options.threads or max(1, (os.cpu_count() or 1) // options.workers)
    trainer = trainer or main_trainer()
    if options.plan:
        trainer = trainer._replace(candidates=None)  # drawing the negatives writes files
    prefix = "%s/%s" % (folder, options.dataset)
    steps = explore.steps(axes, configs, vars(base), seeds, options.confirm, out_dir) \
        if options.explore else iter([(select_configs(configs, options.configs), seeds, "")])
    if options.plan:
        step = next(steps, None)
        if step is None:
            print("[%s] the search is over: nothing to run" % prefix)
            return 0
        if step[2]:
            print("[%s] next step of the search: %s" % (prefix, step[2]))
        runs = plan_runs(out_dir, base_argv, step[0], step[1], threads, trainer)
        for line in plan_lines(runs, options.out, options.dataset, not options.no_reuse,
                               trainer.hyperparameters):
            print("[%s] %s" % (prefix, line))
        return 0
    progress = Progress(prefix, 0, options.workers)
    runs, failures = [], []
    for step_configs, step_seeds, why in steps:
        if why:
            progress.note("next step of the search: %s" % why)
        step_runs = plan_runs(out_dir, base_argv, step_configs, step_seeds, threads, trainer)
        progress, status, failures = train(step_runs, len(step_seeds), prefix, options,
                                           threads, trainer, base)
        if status is not None:
            return status
        runs += step_runs
        if failures:
            break
    context = {"experiment": experiment, "dataset": options.dataset,
               "command": "python -m experiments.run " + " ".join(map(shlex.quote, argv)),
               "features": describe_features(options.dataset, base.data_dir,
                                             base.modality_list),
               "wall_seconds": time.time() - started, "notes": stopped_notes(runs)}
    summary = write_summary(out_dir, context, configs, claims)
    if experiment.report:  # the experiment's own figure and lines, beside the summary
        progress.note(experiment.report(out_dir, configs, options.data_path))
    for claim, judgements in summary.judged:
        progress.note(claim_line(claim, summary.claim_metrics, judgements))
    progress.note("summary in %s (summary.csv, summary.md, summary.png, claims.csv); took %s"
                  % (out_dir, duration(time.time() - started)))
    for run, failure in failures:
        progress.note("not finished: %s seed %d: %s" % (run.config.name, run.seed, failure))
    return 1 if failures else 0


def main(argv=None, trainer=None):
    """Entry point; ``trainer`` (tests): a runs.Trainer in place of main.py."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options, forwarded = build_parser().parse_known_args(argv)
    return execute(options, forwarded, argv, trainer)


if __name__ == "__main__":
    stop_on_sigterm()  # SIGTERM stops the runner, and so its runs, like Ctrl-C
    sys.exit(exit_on_input_error(main))
