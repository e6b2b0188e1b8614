"""The planted spurious-correlation sweep: its models and rho values, and its own report.

Each rho has its own dataset made by utility/data/spurious.py (``spurious-rho-<rho>``, same
seed, so the same users, items and pictures): the training clicks follow preference plus
rho times a picture style that the held-out clicks ignore. The paper's argument predicts
that a model scoring with the pictures but without counterfactual layers (V) loses more as
rho grows than one with them (V&CL, MCLN). The catalogue (experiments/catalogue.py) turns
the tables below into configurations and claims; ``write_report`` adds what the generic
summary cannot show: test HR@10 against rho with the planted ceiling (rho.png), and each
model's drop from the first rho to the last (a section appended to summary.md).
"""
import json
import os

from experiments.statistics import collect
from utility.config.flags import SPURIOUS_PREFIX

FAMILY = "spurious"  # the runner's --dataset for this experiment (the rho = 0 data)
RHOS = (0, 0.5, 1, 2)
# (name, label, main.py flags): MCLN's Base, V, V&CL and full model, VBPR, and InvRL, the
# established answer to spurious correlations between content and preference.
MODELS = (
    ("base", "Base", (("--model", "mcln"), ("--variant", "base"))),
    ("v", "V", (("--model", "mcln"), ("--variant", "v"))),
    ("v_cl", "V&CL", (("--model", "mcln"), ("--variant", "v_cl"))),
    ("full", "MCLN", (("--model", "mcln"), ("--variant", "full"))),
    ("vbpr", "VBPR", (("--model", "vbpr"),)),
    ("invrl", "InvRL", (("--model", "invrl"),)),
)
# The claims: these lose less than V as rho grows, and MCLN beats the invariant rival.
COUNTERFACTUAL = ("v_cl", "full")
INVARIANT_RIVAL = "invrl"
METRIC = "hit@10"
CEILING_FILE = "ceiling.json"
RULE = ("drop = mean at rho %g - mean at rho %g (means over seeds); a difference of drops "
        "counts when it exceeds the sum of the four sample standard deviations")


def dataset_name(rho):
    return "%s%g" % (SPURIOUS_PREFIX, rho)


def config_name(model, rho):
    return "%s-rho-%g" % (model, rho)


def labels():
    return dict((name, label) for name, label, _ in MODELS)


def read_ceilings(data_path):
    """{rho: ceiling.json's figures} for the rhos whose dataset exists."""
    found = {}
    for rho in RHOS:
        path = os.path.join(data_path, dataset_name(rho), CEILING_FILE)
        if os.path.exists(path):
            with open(path) as f:
                found[rho] = json.load(f)
    return found


def figure_of(rows, model, rho):
    """(mean, sd) of METRIC for ``model`` at ``rho``, or None without finished runs."""
    row = rows.get(config_name(model, rho))
    if row is None or not row.n or METRIC not in row.metrics:
        return None
    return row.metrics[METRIC]


def drop(rows, model):
    """(mean at the first rho - mean at the last, sum of their sds or None), or None."""
    first, last = figure_of(rows, model, RHOS[0]), figure_of(rows, model, RHOS[-1])
    if first is None or last is None:
        return None
    spread = first[1] + last[1] if first[1] is not None and last[1] is not None else None
    return first[0] - last[0], spread


def _cell(figure):
    if figure is None:
        return ""
    mean, sd = figure
    return "%.4f" % mean + (" ± %.4f" % sd if sd is not None else "")


def drop_lines(rows):
    """The drops and the claim on them, as markdown lines."""
    names = labels()
    lines = ["Drop of test %s from rho %g to rho %g (%s):" % (METRIC, RHOS[0], RHOS[-1],
                                                             RULE % (RHOS[0], RHOS[-1])), ""]
    drops = dict((name, drop(rows, name)) for name, _, _ in MODELS)
    for name, _, _ in MODELS:
        found = drops[name]
        lines.append("- %s: %s" % (names[name], "no finished runs at both ends" if found is None
                                   else "%+.4f (sd sum %s)" % (found[0], "%.4f" % found[1]
                                                               if found[1] is not None
                                                               else "n/a")))
    lines.append("")
    for other in COUNTERFACTUAL:
        text = "V loses more than %s" % names[other]
        if drops["v"] is None or drops[other] is None:
            lines.append("- **%s**: no finished runs at both ends" % text)
            continue
        difference = drops["v"][0] - drops[other][0]
        spread = drops["v"][1] + drops[other][1] \
            if drops["v"][1] is not None and drops[other][1] is not None else None
        if spread is None:
            verdict = "one seed: not tested"
        elif difference > spread:
            verdict = "holds beyond the spread"
        elif difference < -spread:
            verdict = "reversed beyond the spread"
        else:
            verdict = "within the spread: not shown"
        lines.append("- **%s**: drop V %+.4f, drop %s %+.4f, difference %+.4f (%s): %s" % (
            text, drops["v"][0], names[other], drops[other][0], difference,
            "sd sum %.4f" % spread if spread is not None else "no sd", verdict))
    return lines


def table_lines(rows, ceilings):
    """Test METRIC per model and rho, then the oracles of ceiling.json."""
    header = ["model"] + ["rho %g" % rho for rho in RHOS]
    lines = ["| %s |" % " | ".join(header), "|%s" % (" --- |" * len(header))]
    for name, label, _ in MODELS:
        lines.append("| %s |" % " | ".join([label] + [_cell(figure_of(rows, name, rho))
                                                    for rho in RHOS]))
    for key, label in (("test", "oracle: the planted preference (ceiling)"),
                       ("test_training_oracle", "oracle: the training clicks' distribution")):
        lines.append("| %s |" % " | ".join([label] + [
            "%.4f" % ceilings[rho][key][METRIC] if rho in ceilings else "" for rho in RHOS]))
    return lines


def plot_rho(path, rows, ceilings):
    """Test METRIC (mean and sd over seeds) against rho, a line per model, with the oracles."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    for name, label, _ in MODELS:
        points = [(rho, figure_of(rows, name, rho)) for rho in RHOS]
        points = [(rho, found) for rho, found in points if found is not None]
        if points:
            axes.errorbar([rho for rho, _ in points], [found[0] for _, found in points],
                          yerr=[found[1] or 0.0 for _, found in points], marker="o",
                          capsize=3, label=label)
    measured = sorted(ceilings)
    if measured:
        axes.plot(measured, [ceilings[rho]["test"][METRIC] for rho in measured], color="black",
                  label="ceiling (oracle on the planted preference)")
        axes.plot(measured, [ceilings[rho]["test_training_oracle"][METRIC] for rho in measured],
                  color="grey", linestyle="--", label="oracle of the training clicks")
    axes.axhline(10.0 / 100, color="grey", linestyle=":", label="random")
    axes.set_xticks(RHOS)
    axes.set_xlabel("rho (weight of the picture style in the training clicks)")
    axes.set_ylabel("test HR@10 (sampled, 99 negatives)")
    axes.set_title("Planted spurious correlation: mean and sd over seeds", fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(out_dir, configs, data_path):
    """rho.png and a section appended to summary.md; returns a line for the progress log."""
    rows = collect(out_dir, configs)
    ceilings = read_ceilings(data_path)
    plot_rho(os.path.join(out_dir, "rho.png"), rows, ceilings)
    lines = ["", "## The planted shift", "",
             "Test %s against rho (utility/data/spurious.py; docs/experiments.md). The "
             "ceiling is the expected %s of ranking by the planted preference under the same "
             "sampled protocol: no model can expect more. The training-clicks oracle ranks "
             "by preference + rho * style, as a model that learnt the training distribution "
             "perfectly would." % (METRIC, METRIC), ""]
    lines += table_lines(rows, ceilings) + [""] + drop_lines(rows)
    with open(os.path.join(out_dir, "summary.md"), "a") as f:
        f.write("\n".join(lines) + "\n")
    return "the planted shift: rho.png and a section of summary.md in %s" % out_dir
