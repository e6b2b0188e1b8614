"""Train a model with the release's procedure and evaluate it on the held-out splits.

    python main.py --dataset amazon                    # MCLN with the release's Beauty settings
    python main.py --dataset demo --epochs 4           # built-in synthetic data
    python main.py --dataset demo --model lightgcn     # a baseline in the same harness
    python main.py --dataset demo --valid --patience 3 --eval_protocol both   # careful mode

By default (faithful mode) it trains and reports as the release does. --valid selects the
epoch on validation.txt, --eval_protocol full|both adds full ranking, and --resume
continues from <out_dir>/checkpoints (see utility/evaluation/evaluator.py and utility/run/checkpoint.py).
"""
import os
import sys
import time

import numpy as np

from utility.run.checkpoint import clear_interruption, record_interruption
from utility.common.errors import (InputError, Interrupted, Terminated, exit_on_input_error,
                                   stop_on_sigterm)
from utility.config.flags import parse_args
from utility.run.run_lock import RunLock

HOW_TO_GET_DATA = {
    "Art": "python -m utility.prepare_data art",
    "amazon-beauty": "python -m utility.prepare_data amazon",
    "Taobao": "python -m utility.prepare_data taobao",
    "beauty14": "python -m utility.prepare_data beauty14",
    "ml100k": "python -m utility.prepare_data ml100k",
    "demo": "python -m utility.make_demo",
}


def load_splits(args):
    """The dataset's split files, read and checked (no features yet, no TensorFlow)."""
    from utility.data.load import load_splits as read_splits
    if not os.path.isdir(args.data_dir):
        hint = HOW_TO_GET_DATA.get(args.folder)
        raise InputError("dataset folder %s not found; %s" % (
            args.data_dir, "create it with: %s --data_path %s" % (hint, args.data_path)
            if hint else "put train.txt, test.txt and the feature files there"))
    return read_splits(args.data_dir)


def load(args, cls, config, dataset):
    """The dataset to train on, with the features the model reads (with --valid, validation
    items out of train), and the adjacency it propagates on (None for models without a
    graph)."""
    from utility.run.build import load_adjacency
    from utility.data.load import add_features, random_features, without_validation
    add_features(dataset, args.data_dir, cls.feature_modalities(config, args.modality_list))
    if args.random_features is not None:  # the control: same shapes, no content
        dataset.features.update(random_features(dataset.features, args.random_features))
    if args.valid:
        dataset = without_validation(dataset)
    return dataset, load_adjacency(args.data_dir, dataset, cls, config)


def train_epoch(session, model, sampler, description="training"):
    """One epoch of Adam steps (a progress bar on a terminal); returns the summed loss and
    its parts, in print order."""
    from utility.common.progress import progress
    training = model.training
    fetches = [training.loss] + list(training.parts.values())
    totals = np.zeros(len(fetches))
    steps = sampler.steps_per_epoch
    for _ in progress(range(steps), steps, description):
        _, *losses = session.run([training.train_op] + fetches,
                                 model.training_feed(sampler.sample()))
        totals += losses
    return dict(zip(["loss"] + list(training.parts), totals))


def training_state(args, history, sampler):
    """What, besides the variables, determines the rest of the run (for --resume)."""
    from utility.run.checkpoint import numpy_rng_state, python_rng_state
    from utility.config.flags import hyperparameters
    return {"epoch": history[-1]["epoch"], "history": history,
            "hyperparameters": hyperparameters(args),
            "sampler_rng": numpy_rng_state(sampler.rng), "python_rng": python_rng_state()}


def restore(args, checkpoints, session, model, sampler):
    """The history to continue from: a resumed run's (its variables and RNG states restored),
    else empty (variables from --init_checkpoint if given)."""
    from utility.run.checkpoint import restore_variables, set_numpy_rng_state, set_python_rng_state
    resumed = checkpoints.load_last(args) if args.resume else None
    if resumed:
        checkpoints.restore_last(session)  # model, Adam slots and beta powers
        set_numpy_rng_state(sampler.rng, resumed["sampler_rng"])
        set_python_rng_state(resumed["python_rng"])
        print("resumed from %s after epoch %d" % (checkpoints.path("last"), resumed["epoch"]))
        return resumed["history"]
    if args.resume:
        print("note: nothing to resume in %s; starting from scratch" % checkpoints.directory)
    elif args.init_checkpoint:
        restore_variables(session, model.parameters, args.init_checkpoint)
        print("restored model variables from %s" % args.init_checkpoint)
    return []


def run(args, on_evaluation=None):
    """Train and evaluate as ``args`` say; returns results.json's content.

    ``on_evaluation(record)`` is called after every evaluation with its history record.
    """
    begin = time.time()
    splits = load_splits(args)  # before TensorFlow's seconds of start-up: data errors at once
    # Imported here, once flags and data are known to be good: TensorFlow takes seconds.
    from utility.common.tf_setup import quiet_tensorflow
    quiet_tensorflow(args.tf_log)  # before TensorFlow's import, which reads the log level
    from utility.run.build import model_and_config, start
    from utility.run.checkpoint import Checkpoints
    from utility.evaluation.evaluator import Evaluator
    from utility.watch.monitor import RunMonitor
    from utility.evaluation.outcomes import OutcomeFiles
    from utility.evaluation.report import (epoch_line, metrics_text, reported_evaluations,
                                           summarise, write_results)
    from utility.data.sampler import TrainSampler
    from utility.evaluation.selection import Selection

    cls, config = model_and_config(args)
    dataset, adjacency = load(args, cls, config, splits)
    print(dataset.statistics())
    sampler = TrainSampler(dataset, args.batch_size, np.random.RandomState(args.seed))
    evaluate = Evaluator(args, dataset)
    checkpoints = None if args.no_checkpoints else Checkpoints(args.out_dir)
    if args.resume and checkpoints is None:
        raise InputError("--resume needs checkpoints; drop --no_checkpoints")
    load_seconds = time.time() - begin

    graph, session, model = start(cls, config, dataset, adjacency, args.seed, args.threads,
                                  args.xla)
    dataset.features.clear()  # the graph holds them now: a host copy doubles their memory
    history = restore(args, checkpoints, session, model, sampler)
    resumed_after = history[-1]["epoch"] if history else None
    monitor = RunMonitor(args, args.out_dir)  # TensorBoard events, time left, curves.png
    monitor.started(graph, history)

    outcome_files = OutcomeFiles(args.out_dir)

    def reported_epochs(evaluated):
        return set(epoch for epoch, _ in reported_evaluations(args, evaluated,
                                                              selection.best).values())

    def run_evaluation(record):
        eval_start = time.time()
        record.update(evaluate(session, model))
        record["eval_seconds"] = time.time() - eval_start
        # Per-user ranks of the evaluations still reported (see utility/evaluation/outcomes.py).
        outcome_files.write(record.get("epoch", 0), evaluate.outcomes)
        outcome_files.keep(reported_epochs([r for r in history if "eval_seconds" in r] +
                                           [record]))
        if on_evaluation:
            on_evaluation(record)

    selection = Selection(args.select_metric, args.patience)
    selection.replay(history)
    for epoch in range(len(history) + 1, args.epochs + 1):
        if selection.exhausted:  # --patience evaluations in a row without a better one
            break
        epoch_start = time.time()
        record = dict(epoch=epoch, **train_epoch(session, model, sampler, "epoch %d" % epoch))
        record["train_seconds"] = time.time() - epoch_start
        if np.isnan(record["loss"]):
            raise InputError("loss is NaN at epoch %d; lower --lr or raise --decay" % epoch)
        evaluated = epoch % args.eval_interval == 0 or epoch == args.epochs
        if evaluated:
            run_evaluation(record)
            improved = selection.update(record)
        history.append(record)
        print(epoch_line(epoch, record, args) + monitor.epoch_done(record))
        sys.stdout.flush()
        if evaluated and checkpoints:
            checkpoints.save(session, training_state(args, history, sampler), best=improved)

    final = history[-1] if history else {}
    stopped_early = final.get("epoch") if selection.exhausted and len(history) < args.epochs \
        else None
    if stopped_early:
        print("early stop after epoch %d: no better %s in %d evaluations; best at epoch %d"
              % (stopped_early, args.select_metric, args.patience, selection.best["epoch"]))
    if not history:
        run_evaluation(final)
        selection.update(final)
        print("Evaluation [%.1fs]%s" % (final["eval_seconds"], metrics_text(final, args)))
    evaluated = [r for r in history if "eval_seconds" in r] or [final]
    outcome_files.keep(reported_epochs(evaluated))
    extra = {"stopped_early_at_epoch": stopped_early, "resumed_after_epoch": resumed_after,
             "outcomes": outcome_files.named(reported_evaluations(args, evaluated,
                                                                  selection.best)),
             "negatives": evaluate.negatives_files(args)}
    if checkpoints:
        extra["checkpoints"] = {which: checkpoints.path(which) for which in ("last", "best")}
    results = summarise(args, history, final, selection, load_seconds, **extra)
    write_results(args.out_dir, results)
    monitor.finished(results)
    if evaluate.random_hit10 is not None:
        print("random ranking would give hit@10=%.2f; this run: hit@10=%.5f"
              % (evaluate.random_hit10, final.get("hit@10", float("nan"))))
    print("results in %s, curves in %s" % (os.path.join(args.out_dir, "results.json"),
                                             monitor.curves_path))
    return results


def main(argv=None):
    """The command line: one run at a time per --out_dir; Ctrl-C or SIGTERM says how to
    continue."""
    args = parse_args(argv)
    with RunLock(args.out_dir):
        stop_on_sigterm()  # a scheduler's SIGTERM ends the run as Ctrl-C does
        try:
            results = run(args)
        except KeyboardInterrupt as error:  # also into <out_dir>: a piped log may die with us
            stopped = Terminated if isinstance(error, Terminated) else Interrupted
            raise stopped(record_interruption(args, sys.argv, stopped.word))
        clear_interruption(args.out_dir)  # finished: an earlier note no longer applies
        return results


if __name__ == "__main__":
    exit_on_input_error(main)
