"""Validation grids: a model's settings chosen on validation, by one command.

    python -m experiments.run grid --dataset taobao --model dmrl --valid --patience 5 \\
        --grid decay=1e-2,1e-1 --grid lr=1e-3,1e-2

Every combination of the --grid values is one configuration (``decay-1e-2_lr-1e-3``), run
like a table's rows (resumable, shared negatives, finished twins copied) into
``<out>/grid-<model>/<dataset>/``. The report ranks the cells by the validation metric that
chose each run's epoch (--select_metric), averaged over the seeds, and names the chosen one;
test figures stand beside it but choose nothing.
"""
import os
import string

from experiments.plot import metric_label
from experiments.statistics import finished_results, mean_std
from utility.common.errors import InputError

VALUE_CHARACTERS = frozenset(string.ascii_letters + string.digits + ".+-")
TITLE = "Validation grid: settings chosen on validation"


def parse_axes(texts):
    """[(flag, [values])] from ``FLAG=V1,V2,...`` texts (the flag with or without --)."""
    axes = []
    for text in texts or []:
        name, equals, listed = text.partition("=")
        flag = "--" + name.strip().lstrip("-")
        values = [value.strip() for value in listed.split(",") if value.strip()]
        if not equals or flag == "--" or not values:
            raise InputError("--grid %r: give FLAG=V1,V2,... (e.g. --grid decay=1e-2,1e-1)"
                             % text)
        odd = [value for value in values if not set(value) <= VALUE_CHARACTERS]
        if odd:
            raise InputError("--grid %s: a value names a folder, so only letters, digits, "
                             "'.', '+' and '-'; got %r" % (flag, odd[0]))
        if len(set(values)) < len(values):
            raise InputError("--grid %s lists a value twice: %s" % (flag, listed))
        if flag in [known for known, _ in axes]:
            raise InputError("--grid %s is given twice; list its values once" % flag)
        axes.append((flag, values))
    if not axes:
        raise InputError("the grid experiment needs --grid FLAG=V1,V2 (repeat --grid for "
                         "more flags: every combination runs)")
    return axes


def cell_name(cell):
    """``decay-1e-2_lr-1e-3`` of ((flag, value), ...)."""
    return "_".join("%s-%s" % (flag.lstrip("-"), value) for flag, value in cell)


def cell_label(cell):
    return ", ".join("%s=%s" % (flag.lstrip("-"), value) for flag, value in cell)


def validation_figures(pairs):
    """(metric, validation (mean, sd), test (mean, sd), selected epoch mean, epochs run
    mean) of a cell's [(seed, results)], on the metric that chose their epochs."""
    metric = pairs[0][1]["hyperparameters"]["select_metric"]
    metric = metric[len("valid_"):] if metric.startswith("valid_") else metric
    runs = [results for _, results in pairs]
    return (metric, mean_std([r["valid"][metric] for r in runs]),
            mean_std([r["test_at_best"][metric] for r in runs]),
            mean_std([r["test_at_best"]["epoch"] for r in runs])[0],
            mean_std([r["epochs_run"] for r in runs])[0])


def _figure(mean_sd):
    mean, sd = mean_sd
    return "%.4f" % mean + (" ± %.4f" % sd if sd is not None else "")


def write_report(out_dir, configs, data_path):
    """A section of summary.md ranking the finished cells by validation; returns the
    chosen cell as a line for the progress log."""
    cells = []
    for config in configs:
        pairs = finished_results(os.path.join(out_dir, config.name))
        if pairs:
            cells.append((config, len(pairs)) + validation_figures(pairs))
    if not cells:
        return "no cell of the grid has finished: nothing to choose"
    cells.sort(key=lambda cell: -cell[3][0])
    chosen, metric = cells[0][0], cells[0][2]
    label = metric_label(metric)
    lines = ["", "## Chosen on validation", "",
             "Cells ranked by validation %s at the epoch each run chose on it (mean ± sd over "
             "seeds); the test column is shown, not used. Not finished: %s." % (
                 label, ", ".join(c.label for c in configs if c.name not in
                                  [cell[0].name for cell in cells]) or "none"), "",
             "| cell | seeds | validation %s | test %s | epochs run (selected) |" % (
                 label, label), "| --- | --- | --- | --- | --- |"]
    for config, seeds, _, validation, test, selected, run in cells:
        name = "**%s**" % config.label if config is chosen else config.label
        lines.append("| %s | %d | %s | %s | %.0f (%.0f) |" % (
            name, seeds, _figure(validation), _figure(test), run, selected))
    lines += ["", "Chosen: %s (validation %s %.4f)." % (chosen.label, label, cells[0][3][0])]
    with open(os.path.join(out_dir, "summary.md"), "a") as f:
        f.write("\n".join(lines) + "\n")
    return "chosen on validation %s: %s (%.4f of %d finished cells); ranking in %s" % (
        label, chosen.label, cells[0][3][0], len(cells), os.path.join(out_dir, "summary.md"))
