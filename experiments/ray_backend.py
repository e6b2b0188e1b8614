"""The Ray backend: the same runs as Ray Tune trials, on a local Ray instance or a cluster.

Each trial calls ``main.run`` in a Ray worker with the run's own flags (its directory is the
run's ``<config>/seed-S/``, as with the local backend) and reports the history record of
every evaluation to Tune. With ``asha``, Tune's ASHA scheduler stops weak trials early on
the selection metric; such a run is then closed at its last evaluation (results.json from
its last checkpoint) and marked in ``stopped.json`` so that later calls keep the decision.
On a cluster every node needs this repository and the data at the same paths, and the
output folder on a shared file system. Imported only with ``--backend ray``.
"""
import contextlib
import json
import os
import sys

from experiments.runs import REPO, STOPPED_FILE


def connect(address=None, num_cpus=None):
    """Join the cluster at ``address``, or start a local instance (no dashboard)."""
    import ray
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else num_cpus or os.cpu_count(),
                 include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": REPO}})
    return ray


def _numbers(record):
    """The numeric entries of a history record (what Tune can plot and schedule on)."""
    numbers = {}
    for key, value in record.items():
        try:
            numbers[key] = float(value)
        except (TypeError, ValueError):
            continue
    return numbers


def _train(argv, epochs=None):
    """main.run on ``argv`` (``epochs``: override --epochs) with its output in log.txt;
    inside a trial every evaluation is reported to Tune."""
    from ray import tune
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    import main
    from utility.config.flags import parse_args
    args = parse_args(argv + (["--epochs", str(epochs)] if epochs is not None else []))
    os.makedirs(args.out_dir, exist_ok=True)
    report = (lambda record: tune.report(_numbers(record))) if epochs is None else None
    with open(os.path.join(args.out_dir, "log.txt"), "a") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        main.run(args, on_evaluation=report)


def trial(config):
    """A Tune trial: one run (``config["run"]``: one of run_ray's descriptors)."""
    run = config["run"]
    os.chdir(run["cwd"])  # relative paths in the flags mean what they meant to the caller
    _train(run["argv"])


def _close_stopped(ray, stopped, threads, requested_epochs):
    """Write results.json of runs ASHA stopped, from their last checkpoint, and mark them."""
    @ray.remote(num_cpus=threads)
    def close(cwd, argv, epoch):
        os.chdir(cwd)
        _train(argv, epochs=epoch)

    ray.get([close.remote(os.getcwd(), run.argv, epoch) for run, epoch in stopped])
    for run, epoch in stopped:
        with open(os.path.join(run.directory, STOPPED_FILE), "w") as f:
            json.dump({"by": "asha", "epoch": epoch, "requested_epochs": requested_epochs}, f)


def run_ray(runs, workers, threads, progress, address=None, asha=None):
    """Train the unfinished ``runs`` as Tune trials; returns [(run, failure text)].

    ``asha``: None, or (metric, max_epochs, grace_epochs) for ASHA early stopping.
    """
    ray = connect(address)
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    pending = [run for run in runs if run.state != "finished"]
    if not pending:
        return []
    by_directory = dict((os.path.abspath(run.directory), run) for run in pending)

    class Reporter(tune.Callback):
        """Progress lines as trials start and end. Tune pickles its callbacks into the
        experiment's state on disk: the copy goes without the (unpicklable) output."""

        def __init__(self, progress, runs):
            self.progress, self.runs = progress, runs

        def __getstate__(self):
            return {}

        def _run(self, trial):
            return self.runs[trial.config["run"]["directory"]]

        def on_trial_start(self, iteration, trials, trial, **info):
            self.progress.started(self._run(trial))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.progress.finished(self._run(trial))

        def on_trial_error(self, iteration, trials, trial, **info):
            self.progress.finished(self._run(trial), "error in the trial")

    scheduler = None
    if asha:
        metric, max_epochs, grace = asha
        # max_t past the last epoch: a run that reaches it ends by itself (and writes its
        # results.json) instead of being stopped by the scheduler at its final report.
        scheduler = ASHAScheduler(time_attr="epoch", metric=metric, mode="max",
                                  max_t=max_epochs + 1, grace_period=grace, reduction_factor=3)
    descriptors = [{"argv": run.argv, "directory": directory, "cwd": os.getcwd(),
                    "name": "%s-seed-%d" % (run.config.name, run.seed)}
                   for directory, run in by_directory.items()]
    storage = os.path.abspath(os.path.join(os.path.dirname(os.path.dirname(
        pending[0].directory)), ".ray"))
    tuner = tune.Tuner(
        tune.with_resources(trial, {"cpu": threads}),
        param_space={"run": tune.grid_search(descriptors)},
        tune_config=tune.TuneConfig(max_concurrent_trials=workers, scheduler=scheduler,
                                    trial_dirname_creator=lambda t: t.config["run"]["name"]),
        run_config=tune.RunConfig(storage_path=storage, verbose=0, callbacks=[Reporter(progress, by_directory)]))
    grid = tuner.fit()
    failures, stopped = [], []
    for result in grid:
        run = by_directory[result.config["run"]["directory"]]
        if result.error is not None:
            failures.append((run, str(result.error).strip().splitlines()[-1]))
        elif not os.path.exists(os.path.join(run.directory, "results.json")):
            if "epoch" not in (result.metrics or {}):
                failures.append((run, "ended before its first evaluation"))
                continue
            stopped.append((run, int(result.metrics["epoch"])))
    if stopped:
        progress.note("ASHA stopped %d runs early; writing their results" % len(stopped))
        _close_stopped(ray, stopped, threads, asha[1])
    return failures
