"""Validation grids: a model's settings chosen on validation, by one command.

    python -m experiments.run grid --dataset taobao --model dmrl --valid --patience 5 \\
        --grid decay=1e-2,1e-1 --grid lr=1e-3,1e-2

Every combination of the --grid values is one configuration (``decay-1e-2_lr-1e-3``), run
like a table's rows (resumable, shared negatives, finished twins copied) into
``<out>/grid-<model>/<dataset>/``. The report ranks the cells by the validation metric that
chose each run's epoch (--select_metric), averaged over the seeds, and names the chosen one:
the best of the cells run on the most seeds (the top cells of a one-seed grid, compared over
more seeds, are decided by that comparison), with any cell on fewer seeds that leads it on
the seeds both ran named; test figures stand beside it but choose nothing. When the chosen cell has no finished
neighbour beyond it along a flag (its value the largest or smallest tried there, the other
flags held), the report says so: the best setting may lie outside the grid.
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
# that chose each run's epoch; selected_epoch and epochs_run are means; by_seed: {seed:
# validation figure}.
class Cell(collections.namedtuple("Cell", "config metric validation test selected_epoch "
                                          "epochs_run by_seed")):
    @property
    def seeds(self):
        """How many seeds the cell was run on."""
        return len(self.by_seed)


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
    return Cell(config, metric, mean_std([r["valid"][metric] for r in runs]),
                mean_std([r["test_at_best"][metric] for r in runs]),
                mean_std([r["test_at_best"]["epoch"] for r in runs])[0],
                mean_std([r["epochs_run"] for r in runs])[0],
                {seed: results["valid"][metric] for seed, results in pairs})


def choose(cells):
    """(chosen, challengers) among ``cells`` ranked best first: the best of the cells run on
    the most seeds (when the top cells of a one-seed grid are compared over more seeds, that
    comparison decides, not one seed's lead), and the cells run on fewer seeds that lead the
    chosen one on the seeds both ran (to be run on the same seeds before choosing)."""
    most = max(cell.seeds for cell in cells)
    chosen = next(cell for cell in cells if cell.seeds == most)
    challengers = []
    for cell in cells:
        shared = sorted(set(cell.by_seed) & set(chosen.by_seed))
        if cell.seeds < most and shared and (
                sum(cell.by_seed[seed] for seed in shared)
                > sum(chosen.by_seed[seed] for seed in shared)):
            challengers.append(cell)
    return chosen, challengers


def choice_text(chosen, challengers, cells):
    """The sentences after "Chosen: ..." on how it was chosen, or "" (equal seeds)."""
    if all(cell.seeds == chosen.seeds for cell in cells):
        return ""
    text = " Chosen among the cells run on %d seeds; a cell on fewer seeds ranks by those " \
        "alone." % chosen.seeds
    if challengers:
        text += " %s %s on the seeds both ran: run %s on %d seeds before choosing." % (
            " and ".join(cell.config.label for cell in challengers),
            "leads it" if len(challengers) == 1 else "lead it",
            "it" if len(challengers) == 1 else "them", chosen.seeds)
    return text


def _number(value):
    try:
        return float(value)
    except ValueError:
        return None


def grid_edges(chosen, cells, configs):
    """[(flag, where)] for each flag along which ``chosen`` (a Cell) has no finished cell
    (``cells``) beyond it, the other flags held at its values: where is "largest",
    "smallest" or "only" (no other value of that line finished). Flags the grid's
    ``configs`` do not vary, or whose values are not numbers, have no edge."""
    values = dict(chosen.config.flags)
    edges = []
    for flag, value in chosen.config.flags:
        tried = [_number(v) for v in {dict(config.flags)[flag] for config in configs}]
        if len(tried) < 2 or None in tried:
            continue
        line = [_number(dict(cell.config.flags)[flag]) for cell in cells
                if all(values[other] == v for other, v in cell.config.flags if other != flag)]
        if len(set(line)) == 1:
            edges.append((flag, "only"))
        elif _number(value) == max(line):
            edges.append((flag, "largest"))
        elif _number(value) == min(line):
            edges.append((flag, "smallest"))
    return edges


def edge_text(chosen, edges):
    """One sentence on ``chosen``'s edges (grid_edges), or ""."""
    values, parts = dict(chosen.config.flags), []
    for flag, where in edges:
        held = ", ".join("%s %s" % (other, value) for other, value in chosen.config.flags
                         if other != flag)
        beside = " with %s" % held if held else ""
        parts.append("no other %s finished%s" % (flag, beside) if where == "only" else
                     "%s %s is the %s that finished%s" % (flag, values[flag], where, beside))
    return "On the grid's edge: %s; a value beyond it may do better." % "; ".join(parts) \
        if parts else ""


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
    chosen, challengers = choose(cells)
    label = metric_label(chosen.metric)
    lines = ["", "## Chosen on validation", "",
             "Cells ranked by validation %s at the epoch each run chose on it (mean ± sd over "
             "seeds); the test column is shown, not used. Not finished: %s." % (
                 label, "; ".join(unfinished) or "none"), "",
             "| cell | seeds | validation %s | test %s | epochs run (selected) |" % (
                 label, label), "| --- | --- | --- | --- | --- |"]
    for cell in cells:
        name = "**%s**" % cell.config.label if cell is chosen else cell.config.label
        lines.append("| %s | %d | %s | %s | %.0f (%.0f) |" % (
            name, cell.seeds, mean_sd_text(cell.validation), mean_sd_text(cell.test),
            cell.epochs_run, cell.selected_epoch))
    edges = grid_edges(chosen, cells, configs)
    lines += ["", "Chosen: %s (validation %s %.4f).%s %s" % (
        chosen.config.label, label, chosen.validation[0],
        choice_text(chosen, challengers, cells), edge_text(chosen, edges))]
    with open(os.path.join(out_dir, "summary.md"), "a") as f:
        f.write("\n".join(line.rstrip() for line in lines) + "\n")
    return "chosen on validation %s: %s (%.4f of %d finished cells%s%s); ranking in %s" % (
        label, chosen.config.label, chosen.validation[0], len(cells),
        "; on the grid's edge along %s" % ", ".join(flag for flag, _ in edges) if edges
        else "", "; led on shared seeds by %s" % ", ".join(
            cell.config.label for cell in challengers) if challengers else "",
        os.path.join(out_dir, "summary.md"))
