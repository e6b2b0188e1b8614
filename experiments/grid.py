"""Validation grids: a model's settings chosen on validation, by one command.

    python -m experiments.run grid --dataset taobao --model dmrl --valid --patience 5 \\
        --grid decay=1e-2,1e-1 --grid lr=1e-3,1e-2

Every combination of the --grid values is one configuration (``decay-1e-2_lr-1e-3``), run
like a table's rows (resumable, shared negatives, finished twins copied) into
``<out>/grid-<model>/<dataset>/``. The report ranks the cells by the validation metric that
chose each run's epoch (--select_metric), averaged over the seeds, and names the chosen one;
test figures stand beside it but choose nothing.
"""
import collections
import os
import string

from experiments.plot import metric_label
from experiments.statistics import finished_results, mean_std
from experiments.summary import mean_sd_text
from utility.common.errors import InputError

VALUE_CHARACTERS = frozenset(string.ascii_letters + string.digits + ".+-")
TITLE = "Validation grid: settings chosen on validation"

# One finished cell: validation and test are (mean, sd) over seeds on ``metric``, the one
# that chose each run's epoch; selected_epoch and epochs_run are means.
Cell = collections.namedtuple("Cell", "config seeds metric validation test selected_epoch "
                                      "epochs_run")


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


def finished_cell(config, pairs):
    """The Cell of ``config`` from its runs' [(seed, results)]."""
    metric = pairs[0][1]["hyperparameters"]["select_metric"]
    metric = metric[len("valid_"):] if metric.startswith("valid_") else metric
    runs = [results for _, results in pairs]
    return Cell(config, len(runs), metric, mean_std([r["valid"][metric] for r in runs]),
                mean_std([r["test_at_best"][metric] for r in runs]),
                mean_std([r["test_at_best"]["epoch"] for r in runs])[0],
                mean_std([r["epochs_run"] for r in runs])[0])


def write_report(out_dir, configs, data_path):
    """A section of summary.md ranking the finished cells by validation; returns the
    chosen cell as a line for the progress log."""
    cells, unfinished = [], []
    for config in configs:
        pairs = finished_results(os.path.join(out_dir, config.name))
        if pairs:
            cells.append(finished_cell(config, pairs))
        else:
            unfinished.append(config.label)
    if not cells:
        return "no cell of the grid has finished: nothing to choose"
    cells.sort(key=lambda cell: -cell.validation[0])
    chosen = cells[0]
    label = metric_label(chosen.metric)
    lines = ["", "## Chosen on validation", "",
             "Cells ranked by validation %s at the epoch each run chose on it (mean ± sd over "
             "seeds); the test column is shown, not used. Not finished: %s." % (
                 label, ", ".join(unfinished) or "none"), "",
             "| cell | seeds | validation %s | test %s | epochs run (selected) |" % (
                 label, label), "| --- | --- | --- | --- | --- |"]
    for cell in cells:
        name = "**%s**" % cell.config.label if cell is chosen else cell.config.label
        lines.append("| %s | %d | %s | %s | %.0f (%.0f) |" % (
            name, cell.seeds, mean_sd_text(cell.validation), mean_sd_text(cell.test),
            cell.epochs_run, cell.selected_epoch))
    lines += ["", "Chosen: %s (validation %s %.4f)." % (chosen.config.label, label,
                                                        chosen.validation[0])]
    with open(os.path.join(out_dir, "summary.md"), "a") as f:
        f.write("\n".join(lines) + "\n")
    return "chosen on validation %s: %s (%.4f of %d finished cells); ranking in %s" % (
        label, chosen.config.label, chosen.validation[0], len(cells),
        os.path.join(out_dir, "summary.md"))
