"""Learning curves of runs: loss, HR@10 and NDCG@10 per epoch, from results.json.

    python -m utility.plot runs/demo runs/demo-lr0.01 --out compare.png

Each run is one colour: test solid, validation (with --valid) dashed, the epoch its
selection metric picked marked with a dotted line and a star. With several runs one legend
below the panels names each run by at most three of the settings that differ between them
(the model, variant and dataset first), values cut short; the other differing settings are
listed under it, run by run. main.py writes ``curves.png`` of the run itself the same way
(``write_curves``).

Drawn with matplotlib's Agg canvas directly: no display, no pyplot state.
"""
import argparse
import json
import os
import textwrap

from utility.common.errors import InputError, exit_on_input_error

# Panels: (title, metric name without protocol prefix); the loss panel comes first.
METRIC_PANELS = (("HR@10", "hit@10"), ("NDCG@10", "ndcg@10"))
# Settings every run has but that never tell runs apart in a useful way.
NOT_SETTINGS = ("out_dir", "data_path")
LEGEND_SETTINGS = 3  # differing settings a legend entry names; the rest go below the legend
# The differing settings named first: what a comparison of runs is usually about.
FIRST_SETTINGS = ("model", "variant", "dataset", "formulation", "modalities", "seed")
VALUE_WIDTH = 16  # characters of a setting's value shown in the legend
NOTE_WIDTH = 170  # characters per line of the notes under the legend


def load_run(run_dir):
    """A run's results.json as a dict; one-line errors for folders that are not runs."""
    path = os.path.join(run_dir, "results.json")
    if not os.path.isdir(run_dir):
        raise InputError("%s: no such run folder" % run_dir)
    try:
        with open(path) as handle:
            results = json.load(handle)
    except IOError:
        raise InputError("%s: no results.json (not a run folder, or the run has not ended)"
                         % run_dir)
    except ValueError as error:
        raise InputError("%s: not valid JSON (%s)" % (path, error))
    if not isinstance(results, dict) or not isinstance(results.get("history"), list):
        raise InputError("%s: no 'history' list; not written by main.py?" % path)
    return results


def metric_key(history, name):
    """The history key of ``name``: sampled (``hit@10``) if recorded, else full
    (``full_hit@10``); None when the run measured neither."""
    for key in (name, "full_" + name):
        if any(key in record for record in history):
            return key
    return None


def series(history, key):
    """(epochs, values) of the records that hold ``key``."""
    points = [(record["epoch"], record[key]) for record in history if key in record]
    return [epoch for epoch, _ in points], [value for _, value in points]


def selected_epoch(results):
    """The epoch the run's selection metric picked (validation's with --valid), or None."""
    chosen = results.get("test_at_best") or results.get("best") or {}
    return chosen.get("epoch") or None


def settings(results):
    """The run's settings: hyperparameters plus top-level ``model`` / ``variant``."""
    found = dict(results.get("hyperparameters") or {})
    for key in ("model", "variant"):
        if key in results:
            found.setdefault(key, results[key])
    return found


def differing_settings(all_settings):
    """The settings whose values differ between runs: FIRST_SETTINGS first, then by name."""
    keys = set().union(*all_settings) - set(NOT_SETTINGS)
    differing = [key for key in keys
                 if len(set(json.dumps(s.get(key), sort_keys=True) for s in all_settings)) > 1]
    first = [key for key in FIRST_SETTINGS if key in differing]
    return first + sorted(set(differing) - set(first))


def short(value, width=VALUE_WIDTH):
    """A setting's value as legend text, cut to ``width`` characters."""
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def legend_labels(run_dirs, all_results):
    """One short label per run: at most LEGEND_SETTINGS of the settings that differ between
    the runs (``lr=0.01, seed=1``), prefixed by the folder name when those do not tell the
    runs apart; the folder name when none differ or there is a single run."""
    folder_names = [os.path.basename(os.path.normpath(path)) for path in run_dirs]
    if len(all_results) < 2:
        return folder_names
    all_settings = [settings(results) for results in all_results]
    shown = differing_settings(all_settings)[:LEGEND_SETTINGS]
    labels = [", ".join("%s=%s" % (key, short(s.get(key))) for key in shown)
              for s in all_settings]
    if not shown:
        return folder_names
    if len(set(labels)) < len(labels):
        return ["%s: %s" % (name, label) for name, label in zip(folder_names, labels)]
    return labels


def other_differences(run_dirs, all_results):
    """Lines listing, run by run, the differing settings the legend leaves out."""
    if len(all_results) < 2:
        return []
    all_settings = [settings(results) for results in all_results]
    rest = differing_settings(all_settings)[LEGEND_SETTINGS:]
    if not rest:
        return []
    lines = ["Also differing (%d more setting%s):" % (len(rest), "" if len(rest) == 1 else "s")]
    for path, found in zip(run_dirs, all_settings):
        text = "%s: %s" % (os.path.basename(os.path.normpath(path)),
                           ", ".join("%s=%s" % (key, short(found.get(key), 2 * VALUE_WIDTH))
                                     for key in rest))
        lines.extend(textwrap.wrap(text, NOTE_WIDTH, subsequent_indent="    "))
    return lines


def draw_run(axes, results, label, colour):
    """One run's lines on the three panels (loss, HR@10, NDCG@10)."""
    history = results["history"]
    prefix = label + " " if label else ""
    epochs, losses = series(history, "loss")
    axes[0].plot(epochs, losses, color=colour, label=prefix + "train loss")
    chosen = selected_epoch(results)
    for axis, (_, name) in zip(axes[1:], METRIC_PANELS):
        key = metric_key(history, name)
        if key is None:
            continue
        for split, style in (("test", "-"), ("valid", "--")):
            epochs, values = series(history, key if split == "test" else "valid_" + key)
            if epochs:
                axis.plot(epochs, values, style, color=colour, marker=".",
                          label=prefix + split)
        epochs, values = series(history, key)
        if chosen in epochs:
            axis.plot([chosen], [values[epochs.index(chosen)]], "*", color=colour,
                      markersize=12, label="%sselected (epoch %d)" % (prefix, chosen))
    if chosen is not None:
        for axis in axes:
            axis.axvline(chosen, color=colour, linestyle=":", linewidth=1)


def curves_figure(all_results, labels, notes=()):
    """A Figure (Agg canvas) with the runs' curves. One run: a legend in each panel. Several:
    one legend below the panels, a colour per run (named by ``labels``) and the line
    styles, then the lines of ``notes`` (see ``other_differences``); the curves stay clear."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    several = len(all_results) > 1
    legend_rows = (len(all_results) + 3 + 2) // 3 if several else 0  # runs and 3 styles
    below = 0.25 * legend_rows + 0.2 * len(notes) + (0.3 if several else 0.0)  # inches
    figure = Figure(figsize=(15, 4.5 + below))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 1 + len(METRIC_PANELS), sharex=True)
    colours = ["C%d" % (index % 10) for index in range(len(all_results))]
    for results, label, colour in zip(all_results, labels, colours):
        draw_run(axes, results, label, colour)
    for axis, title in zip(axes, ["loss"] + [title for title, _ in METRIC_PANELS]):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if not several and any(not line.get_label().startswith("_")
                               for line in axis.get_lines()):
            axis.legend(fontsize="small")  # not for a panel with only the selection line
    if not several:
        figure.tight_layout()
        return figure
    height = 4.5 + below
    figure.tight_layout(rect=(0, below / height, 1, 1))
    runs = [Line2D([], [], color=colour, linewidth=3, label=label)
            for label, colour in zip(labels, colours)]
    styles = [Line2D([], [], color="grey", linestyle="-", marker=".", label="test"),
              Line2D([], [], color="grey", linestyle="--", marker=".", label="validation"),
              Line2D([], [], color="grey", linestyle="", marker="*", markersize=10,
                     label="selected epoch")]
    notes_height = (0.2 * len(notes) + 0.1) / height
    figure.legend(handles=runs + styles, loc="lower center", fontsize="small", frameon=False,
                  ncol=3, bbox_to_anchor=(0.5, notes_height))
    if notes:
        figure.text(0.01, 0.1 / height, "\n".join(notes), fontsize="small",
                    family="monospace", va="bottom")
    return figure


def save(figure, path):
    """Write ``figure`` as PNG, creating the folder; a one-line error if that fails."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        figure.savefig(path, dpi=100)
    except (IOError, OSError) as error:
        raise InputError("%s: cannot write (%s)" % (path, error.strerror or error))


def write_curves(results, path):
    """``curves.png`` of one run (main.py calls this at the end of every run)."""
    save(curves_figure([results], [""]), path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Overlay the learning curves (loss, HR@10, NDCG@10) of runs.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders (each holds the results.json main.py wrote)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    all_results = [load_run(path) for path in args.run_dirs]
    labels = legend_labels(args.run_dirs, all_results)
    notes = other_differences(args.run_dirs, all_results)
    save(curves_figure(all_results, labels, notes), args.out)
    print("curves of %d run(s) in %s" % (len(all_results), args.out))


if __name__ == "__main__":
    exit_on_input_error(main)
