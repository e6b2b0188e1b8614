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
    # A model's further loss parts (InvRL's irm_loss, DMRL's dcor_loss) follow emb_loss.
    parts = ["mf_loss", "emb_loss"] + [name for name in record if name.endswith("_loss")
                                       and name not in ("mf_loss", "emb_loss")]
    line += "]: train==[%.5f=%s]" % (record["loss"], " + ".join(
        "%.5f" % record[name] for name in parts))
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


def best_on_test(args, evaluated):
    """The release's ``best``: the evaluated record with the best test value of the
    selection metric (the first of equal maxima)."""
    test_metric = args.select_metric[len("valid_"):] if args.valid else args.select_metric
    return max(evaluated, key=lambda r: r[test_metric])


def reported_evaluations(args, evaluated, selected):
    """{results.json section: (epoch, split)} of the evaluations results.json reports, from
    the ``evaluated`` records (the last one is ``final``) and the ``selected`` one (the
    validation-selected record, or None); ``final_valid`` is the last one's validation."""
    def epoch(record):
        return record.get("epoch", 0)

    reported = {"final": (epoch(evaluated[-1]), "test"),
                "best": (epoch(best_on_test(args, evaluated)), "test")}
    if args.valid:
        reported["final_valid"] = (epoch(evaluated[-1]), "valid")
        if selected is not None:
            reported["test_at_best"] = (epoch(selected), "test")
            reported["valid"] = (epoch(selected), "valid")
    return reported


def summarise(args, history, final, selection, load_seconds, **extra):
    """results.json: the release's ``final`` and ``best`` (the best TEST evaluation by the
    selection metric, as the release reports it), and with --valid ``valid`` and
    ``test_at_best`` (the validation-selected epoch's metrics: the honest numbers)."""
    names = metric_names(args.eval_protocol, args.Ks)
    evaluated = [r for r in history if "eval_seconds" in r] or [final]
    best = best_on_test(args, evaluated)
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
