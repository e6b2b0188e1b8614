"""Train MCLN with the release's procedure and evaluate it with sampled leave-one-out ranking.

    python main.py --dataset amazon            # the release's Beauty settings
    python main.py --dataset demo --epochs 4   # built-in synthetic data
"""
import json
import os
import sys
import time

import numpy as np
import tensorflow.compat.v1 as tf

from model.MCLN import MCLN
from utility.checkpoint import restore_variables
from utility.errors import InputError, exit_on_input_error
from utility.evaluation import (evaluate, read_test_negatives, sample_test_negatives,
                                held_out_items, write_test_negatives)
from utility.load_data import cached_adjacency, load_dataset
from utility.metrics import ordered_names
from utility.parser import hyperparameters, parse_args
from utility.sampler import TrainSampler
from utility.session import make_session

HOW_TO_GET_DATA = {
    "Art": "python -m utility.prepare_data art",
    "amazon-beauty": "python -m utility.prepare_data amazon",
    "Taobao": "python -m utility.prepare_data taobao",
    "demo": "python -m utility.make_demo",
}


def load(args):
    if not os.path.isdir(args.data_dir):
        hint = HOW_TO_GET_DATA.get(args.folder)
        raise InputError("dataset folder %s not found; %s" % (
            args.data_dir, "create it with: %s --data_path %s" % (hint, args.data_path)
            if hint else "put train.txt, test.txt and the feature files there"))
    dataset = load_dataset(args.data_dir, args.modality_list)
    adjacency = cached_adjacency(args.data_dir, dataset, args.adj_b)
    return dataset, adjacency


def evaluation_lists(args, dataset):
    """Test users and their 100 candidates: 99 negatives, then the held-out item."""
    users, held_out = held_out_items(dataset)
    if args.test_negatives:
        negatives = read_test_negatives(args.test_negatives, dataset, users, held_out)
    else:
        # One seeded draw per run, reused at every evaluation so epochs are comparable.
        negatives = sample_test_negatives(np.random.RandomState(args.seed + 1), dataset,
                                          users, held_out)
    if args.save_test_negatives:
        write_test_negatives(args.save_test_negatives, users, negatives)
    return users, np.concatenate([negatives, held_out[:, None]], axis=1)


def train_epoch(session, model, sampler):
    """One epoch of Adam steps; returns the summed (loss, mf_loss, emb_loss)."""
    totals = np.zeros(3)
    for _ in range(sampler.steps_per_epoch):
        users, pos, neg, intervention = sampler.sample()
        _, *losses = session.run(
            [model.train_op, model.loss, model.mf_loss, model.emb_loss],
            {model.users: users, model.pos_items: pos, model.neg_items: neg,
             model.int_items: intervention})
        totals += losses
    return totals


def epoch_line(epoch, record, Ks):
    line = "Epoch %d [%.1fs" % (epoch, record["train_seconds"])
    if "eval_seconds" in record:
        line += " + %.1fs" % record["eval_seconds"]
    line += "]: train==[%.5f=%.5f + %.5f]" % (record["loss"], record["mf_loss"],
                                              record["emb_loss"])
    metrics = [name for name in ordered_names(Ks) if name in record]
    return line + "".join(", %s=%.5f" % (name, record[name]) for name in metrics)


def run(args):
    start = time.time()
    dataset, (adj_indices, adj_values, _) = load(args)
    print(dataset.statistics())
    sampler = TrainSampler(dataset, args.batch_size, np.random.RandomState(args.seed))
    test_users, candidates = evaluation_lists(args, dataset)
    load_seconds = time.time() - start

    tf.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(args.seed)
        feature_dims = {m: dataset.features[m].shape[1] for m in args.modality_list}
        model = MCLN(dataset.n_users, dataset.n_items, feature_dims, len(adj_values), args)
        init = tf.global_variables_initializer()
    session = make_session(graph, args.threads, args.xla)
    session.run(init)
    model.feed_data(session, adj_indices, adj_values, dataset.features)
    if args.init_checkpoint:
        restore_variables(session, model.parameters, args.init_checkpoint)
        print("restored model variables from %s" % args.init_checkpoint)

    def run_evaluation(record):
        eval_start = time.time()
        record.update(evaluate(session, model, test_users, candidates, args.Ks,
                               args.eval_users_per_call))
        record["eval_seconds"] = time.time() - eval_start

    history = []
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.time()
        loss, mf_loss, emb_loss = train_epoch(session, model, sampler)
        record = dict(epoch=epoch, loss=loss, mf_loss=mf_loss, emb_loss=emb_loss,
                      train_seconds=time.time() - epoch_start)
        if np.isnan(loss):
            raise InputError("loss is NaN at epoch %d; lower --lr or raise --decay" % epoch)
        if epoch % args.eval_interval == 0 or epoch == args.epochs:
            run_evaluation(record)
        history.append(record)
        print(epoch_line(epoch, record, args.Ks))
        sys.stdout.flush()
    final = history[-1] if history else {}
    if not history:
        run_evaluation(final)
        print("Evaluation [%.1fs]: %s" % (final["eval_seconds"], ", ".join(
            "%s=%.5f" % (name, final[name]) for name in ordered_names(args.Ks))))
    results = summarise(args, history, final, load_seconds)
    write_results(args.out_dir, results)
    print("random ranking would give hit@10=%.2f; this run: hit@10=%.5f; results in %s"
          % (10.0 / candidates.shape[1], final.get("hit@10", float("nan")),
             os.path.join(args.out_dir, "results.json")))
    return results


def summarise(args, history, final, load_seconds):
    names = ordered_names(args.Ks)
    evaluated = [r for r in history if "eval_seconds" in r] or [final]
    best = max(evaluated, key=lambda r: r.get("hit@10", r[names[0]]))
    train_seconds = [r["train_seconds"] for r in history]
    return {
        "dataset": args.dataset,
        "epochs_run": len(history),
        "tensorflow_version": tf.__version__,
        "final": {name: final[name] for name in names},
        "best": dict({name: best[name] for name in names}, epoch=best.get("epoch", 0)),
        "seconds": {"load": load_seconds,
                    "train_epoch_mean": float(np.mean(train_seconds)) if history else 0.0,
                    "eval_mean": float(np.mean([r["eval_seconds"] for r in evaluated]))},
        "history": history,
        "hyperparameters": hyperparameters(args),
    }


def write_results(out_dir, results):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "results.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(results, handle, indent=1, default=float)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    exit_on_input_error(lambda: run(parse_args()))
