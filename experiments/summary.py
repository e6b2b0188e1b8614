"""summary.csv, summary.md and summary.png of one experiment on one dataset."""
import collections
import csv
import os
import time

from experiments import paper
from experiments.claims import RULE, claim_table, judge_all
from experiments.machine import describe
from experiments.plot import metric_label, plot
from experiments.statistics import collect

# rows: {config name: statistics.Row}; claim_metrics: the metrics claims are read on;
# judged: [(claim, [claims.Judgement or None per metric])].
Summary = collections.namedtuple("Summary", "rows claim_metrics judged")

SOURCES = {
    "test_at_best": "test metrics at the epoch chosen on validation (`test_at_best`; the runs "
                    "used --valid)",
    "best": "the release's best-on-test figure (`best`: the epoch chosen on the test set, as "
            "the release reports it; run with --valid for an honest choice)",
}


def duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


def _number(value, digits=4):
    return "" if value is None else "%.*f" % (digits, value)


def mean_sd_text(figure):
    """'mean ± sd' of a (mean, sd) figure, the sd left out when there is none."""
    mean, sd = figure
    return _number(mean) + (" ± %s" % _number(sd) if sd is not None else "")


def reported_metrics(rows):
    """Metrics measured by every configuration that has runs, in the statistics' order."""
    measured = [set(row.metrics) for row in rows.values() if row.n]
    if not measured:
        return []
    common = set.intersection(*measured)
    return [m for m in next(r for r in rows.values() if r.n).metrics if m in common]


def _identity(config, row):
    flags = dict(config.flags)
    return [row.identity.get(key, flags.get("--" + key, ""))
            for key in ("model", "variant", "formulation")]


def write_csv(path, configs, rows, published):
    metrics = reported_metrics(rows)
    release = any(row.release_best for row in rows.values())
    header = ["config", "label", "model", "variant", "formulation", "seeds", "n", "source"]
    for m in metrics:
        header += [m + "_mean", m + "_std", "paper_" + m]
    if release:
        for m in metrics:
            header += ["release_best_%s_mean" % m, "release_best_%s_std" % m]
    header += ["epochs_run_mean", "best_epoch_mean", "seconds_per_epoch_mean",
               "compute_seconds"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for config in configs:
            row = rows[config.name]
            line = [config.name, config.label] + _identity(config, row) + [
                " ".join(map(str, row.seeds)), row.n, row.source or ""]
            for m in metrics:
                mean, sd = row.metrics.get(m, (None, None))
                line += [_number(mean, 6), _number(sd, 6),
                         _number(published[config.name].get(m), 4)]
            if release:
                for m in metrics:
                    mean, sd = row.release_best.get(m, (None, None))
                    line += [_number(mean, 6), _number(sd, 6)]
            line += [_number(row.epochs_run, 1), _number(row.best_epoch, 1),
                     _number(row.seconds_per_epoch, 2), _number(row.compute_seconds, 1)]
            writer.writerow(line)


def _table(configs, rows, metrics, published, figures_of):
    """A markdown table: per metric ours (mean ± sd), and where the paper has it, the paper's
    number and ours minus it; then seeds, epochs, best epoch and seconds per epoch."""
    with_paper = [m for m in metrics if any(m in published[c.name] for c in configs)]
    header = ["configuration", "seeds"]
    for m in metrics:
        header += [metric_label(m)] + (["paper", "diff"] if m in with_paper else [])
    header += ["epochs", "best epoch", "s/epoch"]
    lines = ["| %s |" % " | ".join(header), "|%s" % (" --- |" * len(header))]
    for config in configs:
        row = rows[config.name]
        cells = ["%s (`%s`)" % (config.label, config.name), str(row.n)]
        for m in metrics:
            figure = figures_of(row).get(m, (None, None))
            cells.append(mean_sd_text(figure))
            if m in with_paper:
                theirs = published[config.name].get(m)
                cells += [_number(theirs), "%+.4f" % (figure[0] - theirs)
                          if theirs is not None and figure[0] is not None else ""]
        cells += [_number(row.epochs_run, 1), _number(row.best_epoch, 1),
                  _number(row.seconds_per_epoch, 1)]
        lines.append("| %s |" % " | ".join(cells))
    return lines


# One row per claim and metric (claims.Judgement's fields, the sides by name).
CLAIM_COLUMNS = ["claim", "kind", "metric", "better", "worse", "mean_better", "sd_better",
                 "mean_worse", "sd_worse", "seeds", "users", "difference", "ci_low",
                 "ci_high", "p", "p_holm", "verdict"]


def write_claims_csv(path, metrics, judged):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CLAIM_COLUMNS)
        for claim, judgements in judged:
            for metric, j in zip(metrics, judgements):
                if j is None:
                    writer.writerow([claim.text, claim.kind, metric] + [""] * 13 +
                                    ["no finished runs on one side"])
                    continue
                writer.writerow([claim.text, claim.kind, metric, j.better, j.worse,
                                 _number(j.mean_better, 6), _number(j.sd_better, 6),
                                 _number(j.mean_worse, 6), _number(j.sd_worse, 6),
                                 " ".join(map(str, j.seeds or [])),
                                 "" if j.users is None else j.users,
                                 _number(j.difference, 6), _number(j.low, 6),
                                 _number(j.high, 6), "" if j.p is None else "%.6g" % j.p,
                                 "" if j.p_holm is None else "%.6g" % j.p_holm, j.verdict])


def write_markdown(path, context, configs, claims, rows, published, judged):
    experiment, dataset = context["experiment"], context["dataset"]
    metrics = reported_metrics(rows)
    sources = set(row.source for row in rows.values() if row.n)
    finished = sum(row.n for row in rows.values())
    compute = sum(row.compute_seconds for row in rows.values())
    lines = ["# %s on %s" % (experiment.title, dataset), "",
             "- command: `%s`" % context["command"],
             "- written: %s" % time.strftime("%Y-%m-%d %H:%M:%S"),
             "- reported figures: %s" % ("; ".join(SOURCES[s] for s in sorted(sources)) or
                                         "none yet"),
             "- features: %s" % context["features"],
             "- time: %d finished runs; %s of compute (load, training and evaluation summed "
             "over runs, parallel runs overlap); this call took %s" % (
                 finished, duration(compute), duration(context["wall_seconds"])),
             "- machine: %s" % describe()]
    paper_name = paper.paper_dataset(dataset)
    if experiment.paper_table and paper_name:
        lines.append("- paper: Li et al., SIGIR 2023, %s, %s (one run per cell, VGG and "
                     "sentence2vec features); diff = ours - paper"
                     % (experiment.paper_table.replace("table", "Table "), paper_name))
        not_run = [paper.MODEL_LABELS.get(row, str(row)) for row in
                   paper.TABLES[experiment.paper_table].get(paper_name, {})
                   if row not in set(c.paper_row for c in configs)]
        if not_run and experiment.paper_table == experiment.name:
            lines.append("- paper rows not run here: %s" % ", ".join(not_run))
    elif experiment.paper_table:
        lines.append("- paper: no published numbers for dataset %s" % dataset)
    lines.extend(context.get("notes", []))
    lines += [""] + _table(configs, rows, metrics, published, lambda row: row.metrics)
    labels = dict((c.name, c.label) for c in configs)
    lines += ["", "## Claims", "", "Rule: %s." % RULE, ""]
    lines += claim_table(judged[0], judged[1], labels) if claims else \
        ["- this experiment tests no claim of the paper"]
    if any(row.release_best for row in rows.values()):
        lines += ["", "## The release's best-on-test figure", "",
                  "Labelled as such: the epoch with the best test value, as the release "
                  "reports it (optimistic; shown only to compare with the paper).", ""]
        lines += _table(configs, rows, metrics, published, lambda row: row.release_best)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_summary(out_dir, context, configs, claims):
    """Write summary.csv, summary.md, summary.png and claims.csv into ``out_dir`` (the
    experiment's ``<out>/NAME/D``); returns the Summary they were made from."""
    experiment, dataset = context["experiment"], context["dataset"]
    rows = collect(out_dir, configs)
    metrics, judged = judge_all(claims, rows)
    published = dict((c.name, paper.numbers(experiment.paper_table, dataset, c.paper_row)
                      if experiment.paper_table else {}) for c in configs)
    os.makedirs(out_dir, exist_ok=True)
    write_csv(os.path.join(out_dir, "summary.csv"), configs, rows, published)
    write_markdown(os.path.join(out_dir, "summary.md"), context, configs, claims, rows,
                   published, (metrics, judged))
    write_claims_csv(os.path.join(out_dir, "claims.csv"), metrics, judged)
    plot(os.path.join(out_dir, "summary.png"), "%s on %s" % (experiment.title, dataset),
         experiment.kind, configs, rows, published)
    return Summary(rows, metrics, judged)
