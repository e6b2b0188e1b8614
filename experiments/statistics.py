"""Per-configuration statistics over seeds, read from the runs' results.json files."""
import collections
import glob
import json
import math
import os

# The metrics a summary reports, in this order, where the runs measured them.
METRICS = ("hit@5", "ndcg@5", "hit@10", "ndcg@10", "hit@20", "ndcg@20",
           "full_recall@20", "full_ndcg@20")

# n: finished runs; metrics / release_best: {metric: (mean, std)}; source: "test_at_best"
# (validation-selected) or "best" (the release's best-on-test); outcomes: {seed: the
# per-user outcomes file of the reported figure, or None}; negatives: {seed: SHA-256 of the
# test negatives the run read, or None}; the rest: means over seeds.
Row = collections.namedtuple(
    "Row", "n seeds metrics release_best source epochs_run best_epoch seconds_per_epoch "
           "compute_seconds identity outcomes negatives")
# What a run says it trained (results.json's own keys, else its hyperparameters).
IDENTITY = ("model", "variant", "formulation")


def mean_std(values):
    """(mean, sample standard deviation with n - 1); the deviation is None below two values."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def finished_results(config_dir):
    """[(seed, results)] of every finished run under ``config_dir``, by seed."""
    found = []
    for path in glob.glob(os.path.join(config_dir, "seed-*", "results.json")):
        seed = os.path.basename(os.path.dirname(path))[len("seed-"):]
        if seed.lstrip("-").isdigit():
            with open(path) as f:
                found.append((int(seed), json.load(f)))
    return sorted(found, key=lambda pair: pair[0])


def compute_seconds(results):
    """Seconds a run spent loading, training and evaluating (summed over its resumptions)."""
    history = results.get("history", [])
    seconds = results.get("seconds", {}).get("load", 0.0)
    seconds += sum(r.get("train_seconds", 0.0) + r.get("eval_seconds", 0.0) for r in history)
    return seconds


def _figures(results_list, key, names):
    return {name: mean_std([r[key][name] for r in results_list]) for name in names}


def outcome_path(config_dir, seed, results, section):
    """The outcomes file of ``section`` of a run's ``results``, or None."""
    relative = results.get("outcomes", {}).get(section)
    if relative is None or config_dir is None:
        return None
    return os.path.join(config_dir, "seed-%d" % seed, relative)


def aggregate(pairs, config_dir=None):
    """The Row of one configuration from its [(seed, results)] (found in ``config_dir``)."""
    results_list = [results for _, results in pairs]
    if not results_list:
        return Row(0, [], {}, {}, None, None, None, None, 0.0, {}, {}, {})
    validated = all("test_at_best" in r for r in results_list)
    source = "test_at_best" if validated else "best"
    names = [m for m in METRICS if all(m in r[source] for r in results_list)]
    return Row(
        n=len(results_list), seeds=[seed for seed, _ in pairs],
        metrics=_figures(results_list, source, names),
        release_best=_figures(results_list, "best", names) if validated else {},
        source=source,
        epochs_run=mean_std([r["epochs_run"] for r in results_list])[0],
        best_epoch=mean_std([r[source]["epoch"] for r in results_list])[0],
        seconds_per_epoch=mean_std([r["seconds"]["train_epoch_mean"]
                                    for r in results_list])[0],
        compute_seconds=sum(compute_seconds(r) for r in results_list),
        identity=identity(results_list[0]),
        outcomes=dict((seed, outcome_path(config_dir, seed, results, source))
                      for seed, results in pairs),
        negatives=dict((seed, results.get("negatives", {}).get("test", {}).get("sha256"))
                       for seed, results in pairs))


def identity(results):
    """{model, variant, formulation} as far as ``results`` records them."""
    found = {}
    for key in IDENTITY:
        value = results.get(key, results.get("hyperparameters", {}).get(key))
        if value is not None:
            found[key] = value
    return found


def collect(out_dir, configs):
    """{config name: Row} for ``configs`` (in their order) from ``out_dir``."""
    return collections.OrderedDict(
        (c.name, aggregate(finished_results(os.path.join(out_dir, c.name)),
                           os.path.join(out_dir, c.name))) for c in configs)
