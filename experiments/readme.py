"""The README's results tables, made from the results folder.

    python -m experiments.readme [--results results] [--readme README.md] [--check]

Each pair of marker comments in the README,

    <!-- results:NAME/D -->
    ...
    <!-- /results -->

gets, in between, the tables of ``RESULTS/NAME/D/`` (as ``python -m experiments.keep``
leaves it): one row per configuration (seeds; HR and NDCG at 5 and 10, or full-ranking
Recall and NDCG at 20: mean ± sd over seeds, the paper's number where it has one) from
summary.csv, then one row per claim and metric (A - B, 95 % interval, p, Holm p, verdict)
from claims.csv, then a link to each of the experiment's own figures (rho.png of the
spurious sweep; summary.png is not shown). Everything else in the README is left as it is. ``--check`` writes nothing
and exits 1, naming the markers, when the README differs from what it would write.
"""
import argparse
import csv
import os
import re
import sys

from experiments.keep import figures
from experiments.plot import metric_label
from utility.common.errors import InputError, exit_on_input_error

MARKER = re.compile(r"<!-- results:(?P<name>[^ ]+?) -->\n(?P<body>.*?)<!-- /results -->",
                    re.S)
OPENING = re.compile(r"<!-- results:")
NO_RUNS = "no finished runs on one side"  # claims of configurations not run: left out
TABLE_METRICS = (("hit@5", "ndcg@5", "hit@10", "ndcg@10"), ("full_recall@20", "full_ndcg@20"))


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _figure(row, metric):
    mean, sd = row.get(metric + "_mean", ""), row.get(metric + "_std", "")
    if not mean:
        return ""
    return "%.4f" % float(mean) + (" ± %.4f" % float(sd) if sd else "")


def configuration_table(rows):
    measured = set(name[:-len("_mean")] for name in rows[0] if name.endswith("_mean")) \
        if rows else set()
    metrics = next(([m for m in group if m in measured] for group in TABLE_METRICS
                    if any(m in measured for m in group)), [])
    with_paper = [m for m in metrics if any(r.get("paper_" + m) for r in rows)]
    header = ["configuration", "seeds"]
    for m in metrics:
        header += [metric_label(m)] + (["paper"] if m in with_paper else [])
    lines = ["| %s |" % " | ".join(header), "|%s" % (" --- |" * len(header))]
    for row in rows:
        cells = [row["label"], row["n"]]
        for m in metrics:
            cells.append(_figure(row, m))
            if m in with_paper:
                cells.append(row.get("paper_" + m, ""))
        lines.append("| %s |" % " | ".join(cells))
    return lines


def _number(text, form):
    return form % float(text) if text else ""


def claims_table(rows):
    header = ["claim", "metric", "A - B", "95 % interval", "p", "Holm p", "verdict"]
    lines = ["| %s |" % " | ".join(header), "|%s" % (" --- |" * len(header))]
    for row in rows:
        if row["verdict"] == NO_RUNS:
            continue
        interval = "[%+.4f, %+.4f]" % (float(row["ci_low"]), float(row["ci_high"])) \
            if row["ci_low"] else ""
        lines.append("| %s |" % " | ".join([
            row["claim"], metric_label(row["metric"]), _number(row["difference"], "%+.4f"),
            interval, _number(row["p"], "%.3g"), _number(row["p_holm"], "%.3g"),
            row["verdict"]]))
    return lines


def tables(results, name, readme_dir="."):
    """The text between the markers of ``name`` ("NAME/D"); figures are linked relative to
    ``readme_dir``, the README's folder."""
    folder = os.path.join(results, name)
    configurations = [r for r in _rows(os.path.join(folder, "summary.csv")) if r["n"] != "0"]
    if not configurations:
        raise InputError("%s: no summary.csv with finished runs for the README marker "
                         "results:%s (python -m experiments.keep copies one)" % (folder, name))
    lines = configuration_table(configurations)
    claims = _rows(os.path.join(folder, "claims.csv"))
    if claims:
        lines += [""] + claims_table(claims)
    for figure in figures(folder):
        link = os.path.relpath(os.path.join(folder, figure), readme_dir).replace(os.sep, "/")
        lines += ["", "![%s: %s](%s)" % (name, figure, link)]
    return "\n".join(lines) + "\n"


def check_markers(text):
    if len(OPENING.findall(text)) != len(MARKER.findall(text)):
        raise InputError("README: a <!-- results:NAME/D --> marker has no <!-- /results --> "
                         "after it")


def regenerate(text, results, readme_dir="."):
    """(the README ``text`` with every marker's tables remade, the markers' names)."""
    check_markers(text)
    names = []

    def remade(match):
        names.append(match.group("name"))
        return "<!-- results:%s -->\n%s<!-- /results -->" % (
            match.group("name"), tables(results, match.group("name"), readme_dir))
    return MARKER.sub(remade, text), names


def differing(text, results, readme_dir="."):
    """Names of the markers whose tables differ from ``results``'."""
    check_markers(text)
    return [m.group("name") for m in MARKER.finditer(text)
            if m.group("body") != tables(results, m.group("name"), readme_dir)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments.readme",
                                     description="Remake the README's results tables.")
    parser.add_argument("--results", default="results", help="the results folder")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when the README's tables are not current")
    options = parser.parse_args(argv)
    with open(options.readme) as f:
        text = f.read()
    readme_dir = os.path.dirname(os.path.abspath(options.readme))
    if options.check:
        stale = differing(text, options.results, readme_dir)
        if stale:
            print("%s: results tables differ from %s for %s; run python -m experiments.readme"
                  % (options.readme, options.results, ", ".join(stale)))
            return 1
        print("%s: %d results tables match %s" % (
            options.readme, len(MARKER.findall(text)), options.results))
        return 0
    remade, names = regenerate(text, options.results, readme_dir)
    if remade != text:
        with open(options.readme, "w") as f:
            f.write(remade)
    print("%s: %d results tables from %s (%s)" % (options.readme, len(names),
                                                  options.results, ", ".join(names) or
                                                  "no <!-- results:NAME/D --> markers"))
    return 0


if __name__ == "__main__":
    sys.exit(exit_on_input_error(main))
