"""summary.png: bars with error bars for a table, lines with error bars for a sweep."""

LABELS = {"hit": "HR", "ndcg": "NDCG", "full_recall": "full Recall", "full_ndcg": "full NDCG"}


def metric_label(name):
    """``hit@5`` -> ``HR@5``, ``full_ndcg@20`` -> ``full NDCG@20``."""
    base, _, k = name.partition("@")
    return "%s@%s" % (LABELS.get(base, base), k)


def plotted_metrics(rows):
    """HR and NDCG at 5 and 10 where measured, else full-ranking Recall and NDCG at 20."""
    measured = set(m for row in rows.values() for m in row.metrics)
    for group in (("hit@5", "ndcg@5", "hit@10", "ndcg@10"), ("full_recall@20", "full_ndcg@20")):
        chosen = [m for m in group if m in measured]
        if chosen:
            return chosen
    return []


def _mean_sd(row, metric):
    mean, sd = row.metrics.get(metric, (None, None)) if row.n else (None, None)
    return (float("nan") if mean is None else mean), (0.0 if sd is None else sd)


def plot(path, title, kind, configs, rows, paper_numbers):
    """Write the figure; ``paper_numbers``: {config name: {metric: value}}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = plotted_metrics(rows)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(configs) + 2), 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / max(1, len(metrics))
    for i, metric in enumerate(metrics):
        colour = colours[i % len(colours)]
        figures = [_mean_sd(rows[c.name], metric) for c in configs]
        means, sds = [f[0] for f in figures], [f[1] for f in figures]
        published = [paper_numbers.get(c.name, {}).get(metric, float("nan")) for c in configs]
        if kind == "sweep":
            xs = [c.x for c in configs]
            axes.errorbar(xs, means, yerr=sds, marker="o", capsize=3, color=colour,
                          label=metric_label(metric))
            axes.plot(xs, published, linestyle="--", marker="x", color=colour)
        else:
            xs = [j + (i - (len(metrics) - 1) / 2.0) * width for j in range(len(configs))]
            axes.bar(xs, means, width, yerr=sds, capsize=3, color=colour,
                     label=metric_label(metric))
            axes.plot(xs, published, linestyle="none", marker="x", color="black")
    if kind == "sweep":
        axes.set_xticks([c.x for c in configs])
        axes.set_xlabel(configs[0].flags[0][0].lstrip("-") if configs else "")
    else:
        axes.set_xticks(range(len(configs)))
        axes.set_xticklabels([c.label for c in configs], rotation=30, ha="right", fontsize=8)
    if metrics:
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no finished runs yet", ha="center", transform=axes.transAxes)
    with_paper = any(paper_numbers.get(c.name) for c in configs)
    axes.set_title("%s\nmean and sd over seeds%s" % (
        title, "; x / dashed: the paper's numbers" if with_paper else ""), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
