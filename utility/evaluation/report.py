"""What a run prints per epoch and writes to ``<out_dir>/results.json``."""
import os

import numpy as np
import tensorflow.compat.v1 as tf

from utility.common.atomic import write_json_atomically
from utility.config.flags import hyperparameters, metric_names


def epoch_line(epoch, record, args):
    line = "Epoch %d [%.1fs" % (epoch, record["train_seconds"])
    if "eval_seconds" in record:
        line += " + %.1fs" % record["eval_seconds"]
    line += "]: train==[%.5f=%.5f + %.5f]" % (record["loss"], record["mf_loss"],
                                              record["emb_loss"])
    return line + metrics_text(record, args)


def metrics_text(record, args):
    """``, hit@5=..., ...``: the test metrics in ``record`` (of the full protocol, recall and
    NDCG only) and the selection metric; results.json has them all."""
    names = [name for name in metric_names(args.eval_protocol, args.Ks)
             if not name.startswith(("full_precision", "full_hit"))]
    names += [args.select_metric] if args.select_metric not in names else []
    return "".join(", %s=%.5f" % (name, record[name]) for name in names if name in record)


def metrics_of(record, names, prefix=""):
    """The ``prefix``-ed metrics of a history record, without the prefix, and its epoch."""
    return dict({name: record[prefix + name] for name in names}, epoch=record.get("epoch", 0))


def summarise(args, history, final, selection, load_seconds, **extra):
    """results.json: the release's ``final`` and ``best`` (the best TEST evaluation by the
    selection metric, as the release reports it), and with --valid ``valid`` and
    ``test_at_best`` (the validation-selected epoch's metrics: the honest numbers)."""
    names = metric_names(args.eval_protocol, args.Ks)
    evaluated = [r for r in history if "eval_seconds" in r] or [final]
    test_metric = args.select_metric[len("valid_"):] if args.valid else args.select_metric
    best = max(evaluated, key=lambda r: r[test_metric])  # the first of equal maxima
    train_seconds = [r["train_seconds"] for r in history]
    results = {
        "dataset": args.dataset,
        "model": args.model,
        "variant": args.variant if args.model == "mcln" else None,
        "formulation": args.formulation if args.model == "mcln" else None,
        "epochs_run": len(history),
        "tensorflow_version": tf.__version__,
        "final": {name: final[name] for name in names},
        "best": metrics_of(best, names),
        "seconds": {"load": load_seconds,
                    "train_epoch_mean": float(np.mean(train_seconds)) if history else 0.0,
                    "eval_mean": float(np.mean([r["eval_seconds"] for r in evaluated]))},
        "history": history,
        "hyperparameters": hyperparameters(args),
    }
    if args.valid:
        results["valid"] = metrics_of(selection.best, names, "valid_")
        results["test_at_best"] = metrics_of(selection.best, names)
    results.update(extra)
    return results


def write_results(out_dir, results):
    os.makedirs(out_dir, exist_ok=True)
    write_json_atomically(os.path.join(out_dir, "results.json"), results)
