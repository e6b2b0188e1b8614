"""Whether our numbers support a claim of the paper beyond the spread of the seeds.

The rule: a difference counts when the difference of the two means exceeds the sum of
their sample standard deviations (n - 1 in the denominator). A "greater" claim compares the
best configuration (by mean) among those claimed better with the best among the others;
an "equal" claim compares its two configurations. With fewer than two finished seeds on
either side nothing is tested.
"""
import collections

RULE = ("a difference counts when |mean_a - mean_b| > sd_a + sd_b (sample standard "
        "deviations over seeds, n - 1); a claim that A beats a group compares A's mean with "
        "the group's best mean; fewer than two seeds on either side: not tested")

# One metric's reading of a claim: the two sides' labels, means and deviations, the
# difference better - worse, the spread sd_a + sd_b (None if untested) and the verdict.
Judgement = collections.namedtuple(
    "Judgement", "metric better worse mean_better mean_worse difference spread verdict")


def _best(names, rows, metric):
    measured = [n for n in names if rows[n].n and metric in rows[n].metrics]
    return max(measured, key=lambda n: rows[n].metrics[metric][0]) if measured else None


def verdict(kind, difference, spread):
    """The words for a difference ``better - worse`` against ``spread`` (None: untested)."""
    if spread is None:
        return "one seed: not tested"
    if kind == "equal":
        return "differ beyond the spread" if abs(difference) > spread else \
            "equal within the spread"
    if difference > spread:
        return "holds beyond the spread"
    if difference < -spread:
        return "reversed beyond the spread"
    return "within the spread: not shown"


def judge(claim, rows, metric):
    """The Judgement of ``claim`` on ``metric`` from {config: statistics.Row}, or None when
    a side has no finished run measuring the metric."""
    better, worse = _best(claim.better, rows, metric), _best(claim.worse, rows, metric)
    if better is None or worse is None:
        return None
    (mean_b, sd_b), (mean_w, sd_w) = rows[better].metrics[metric], rows[worse].metrics[metric]
    spread = sd_b + sd_w if sd_b is not None and sd_w is not None else None
    difference = mean_b - mean_w
    return Judgement(metric, better, worse, mean_b, mean_w, difference, spread,
                     verdict(claim.kind, difference, spread))


def claim_metrics(rows):
    """The metrics claims are read on: HR@5 and NDCG@5 (the paper's tables all have them),
    else full-ranking Recall@20 and NDCG@20."""
    measured = set(m for row in rows.values() for m in row.metrics)
    for pair in (("hit@5", "ndcg@5"), ("full_recall@20", "full_ndcg@20")):
        if measured.issuperset(pair):
            return list(pair)
    return sorted(measured)[:2]


def claim_line(claim, rows, labels):
    """One markdown line: the claim, then per metric our means, difference, spread, verdict."""
    parts = []
    for metric in claim_metrics(rows):
        j = judge(claim, rows, metric)
        if j is None:
            parts.append("%s: no finished runs on one side" % metric)
            continue
        spread = "sd sum %.4f" % j.spread if j.spread is not None else "no sd"
        parts.append("%s %s %.4f vs %s %.4f (difference %+.4f, %s): %s" % (
            metric, labels[j.better], j.mean_better, labels[j.worse], j.mean_worse,
            j.difference, spread, j.verdict))
    return "- **%s**: %s" % (claim.text, "; ".join(parts) or "no finished runs")
