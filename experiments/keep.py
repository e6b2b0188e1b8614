"""Copy what a reader needs of the runner's output into the repository's results folder.

    python -m experiments.keep RUNNER_OUT RESULTS [--only NAME/D,...]

For every experiment and dataset under RUNNER_OUT (``<out>/NAME/D/`` holding a summary.csv),
copies into ``RESULTS/NAME/D/`` its summary.csv, summary.md, summary.png and claims.csv, the
experiment's own figures (any other ``*.png`` beside them, such as the spurious sweep's
rho.png), and for every run ``<config>/seed-S/`` its results.json and the per-user outcome files that
results.json names; never checkpoints, logs or negatives files (results.json records the
negatives' SHA-256). A folder kept before is replaced whole, so nothing stale stays.
"""
import argparse
import glob
import json
import os
import shutil
import sys

from utility.common.errors import InputError, exit_on_input_error

SUMMARY_FILES = ("summary.csv", "summary.md", "summary.png", "claims.csv")


def experiment_folders(runner_out):
    """["NAME/D"] of every experiment and dataset under ``runner_out`` with a summary."""
    found = glob.glob(os.path.join(runner_out, "*", "*", "summary.csv"))
    return sorted(os.path.relpath(os.path.dirname(path), runner_out) for path in found)


def figures(folder):
    """Names of the experiment's own figures in ``folder``: its *.png but summary.png."""
    return sorted(name for name in os.listdir(folder)
                  if name.endswith(".png") and name not in SUMMARY_FILES)


def run_files(folder):
    """Paths relative to ``folder`` of each run's results.json and named outcome files."""
    kept = []
    for results_path in sorted(glob.glob(os.path.join(folder, "*", "seed-*", "results.json"))):
        run_dir = os.path.dirname(results_path)
        with open(results_path) as f:
            named = json.load(f).get("outcomes", {})
        relative = os.path.relpath(run_dir, folder)
        kept.append(os.path.join(relative, "results.json"))
        for outcome in sorted(set(named.values())):
            if os.path.exists(os.path.join(run_dir, outcome)):
                kept.append(os.path.join(relative, outcome))
    return kept


def keep(runner_out, results, only=None):
    """Copy as the module says; returns the "NAME/D" folders copied."""
    folders = experiment_folders(runner_out)
    if only:
        missing = [name for name in only if name not in folders]
        if missing:
            raise InputError("%s: no summary for %s (found: %s)" % (
                runner_out, ", ".join(missing), ", ".join(folders) or "none"))
        folders = [name for name in folders if name in only]
    if not folders:
        raise InputError("%s: no <NAME>/<dataset>/summary.csv found; run python -m "
                         "experiments.run first" % runner_out)
    for name in folders:
        source, target = os.path.join(runner_out, name), os.path.join(results, name)
        partial = target + ".copying"
        shutil.rmtree(partial, ignore_errors=True)
        files = [f for f in SUMMARY_FILES if os.path.exists(os.path.join(source, f))] \
            + figures(source)
        for relative in files + run_files(source):
            destination = os.path.join(partial, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copy2(os.path.join(source, relative), destination)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(partial, target)
    return folders


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.keep",
        description="Copy summaries, results.json files and per-user outcomes (no "
                    "checkpoints) from the runner's output into the results folder.")
    parser.add_argument("runner_out", help="the runner's --out (e.g. runs/experiments)")
    parser.add_argument("results", help="the results folder (e.g. results)")
    parser.add_argument("--only", help="comma-separated NAME/D folders (default: all)")
    options = parser.parse_args(argv)
    only = [part.strip().strip("/") for part in options.only.split(",")] \
        if options.only else None
    for name in keep(options.runner_out, options.results, only):
        print("kept %s in %s" % (name, os.path.join(options.results, name)))
    return 0


if __name__ == "__main__":
    sys.exit(exit_on_input_error(main))
