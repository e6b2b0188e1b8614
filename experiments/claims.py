"""Whether our numbers support a claim of the paper: paired tests over the test users.

Every configuration of a table ranks the same candidates for the same users (seed by seed,
experiments/candidates.py), and every run keeps each user's rank of the held-out item
(utility/evaluation/outcomes.py). A claim "A beats B" is read per metric on the users'
values of A and B, each averaged over the seeds both sides ran; the difference is the mean
over users of A - B, with

- a 95 % paired bootstrap interval (users resampled with replacement, 2,000 times, a
  fixed seed: the same interval on every call);
- the two-sided Wilcoxon signed-rank test of the per-user differences (scipy.stats,
  normal approximation, users with no difference left out);
- Holm's correction of those p-values across the claims of the table, per metric.

Verdict at 0.05: ``holds`` (Holm-adjusted p < 0.05 and A - B > 0), ``reversed`` (adjusted
p < 0.05 and A - B < 0), else ``not shown``. A claim that A beats a group compares the best
of A (by mean over seeds) with the best of the group. An "equal" claim is read on its
interval: ``differ`` when it excludes 0, else ``no difference shown``. The seeds' means and
sample standard deviations stay beside each verdict as information. The test is over
users for the models trained: it does not measure how much another seed would move them
(the seeds' spread shows that).
"""
import collections
import inspect
import os
import warnings

import numpy as np

ALPHA = 0.05
LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 2023

RULE = ("per claim and metric, each user's value averaged over the seeds both sides ran "
        "(same users, same candidates); difference = mean over users of A - B with a 95 % "
        "paired bootstrap interval (2,000 resamples of users); p: two-sided Wilcoxon "
        "signed-rank test over users; Holm's correction across the table's claims per "
        "metric; verdict at 0.05: holds (adjusted p < 0.05, A > B), reversed (adjusted "
        "p < 0.05, A < B), else not shown; an equality claim: differ when the interval "
        "excludes 0. A claim that A beats a group compares the best of each by mean. "
        "mean ± sd: over seeds, information only")
NO_OUTCOMES = "no per-user outcomes: not tested"
UNPAIRED = "different users or candidates: not tested"

# One metric's reading of a claim. better / worse: the configurations compared; mean_* and
# sd_*: over their seeds; seeds: those both ran, with outcomes; users: how many; difference,
# low, high: the mean per-user difference and its interval; p, p_holm; verdict. Untested
# claims have None from ``seeds`` on, and the reason as verdict.
Judgement = collections.namedtuple(
    "Judgement", "metric better worse mean_better sd_better mean_worse sd_worse seeds users "
                 "difference low high p p_holm verdict")


def holm(pvalues):
    """Holm's step-down adjustment of ``pvalues`` (None entries stay None): the i-th
    smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted, running = list(pvalues), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def bootstrap_interval(differences, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED,
                       level=LEVEL):
    """Percentile interval of the mean of ``differences`` over ``resamples`` resamples
    (with replacement, seeded)."""
    differences = np.asarray(differences, dtype=np.float64)
    values, counts = np.unique(differences, return_counts=True)
    n = len(differences)
    rng = np.random.RandomState(seed)
    # Per-user metrics take few distinct values: a resample is then drawn as how often it
    # picks each value (multinomial), far cheaper than picking n users one by one.
    by_value = len(values) * 8 <= n
    width = len(values) if by_value else n
    chunk = max(1, min(resamples, 2000000 // width))  # bounded memory
    means = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        if by_value:
            means.append(rng.multinomial(n, counts / float(n), size=size).dot(values) / n)
        else:
            means.append(differences[rng.randint(0, n, size=(size, n))].mean(axis=1))
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(np.concatenate(means), [tail, 100.0 - tail])
    return float(low), float(high)


def paired_p(differences):
    """Two-sided Wilcoxon signed-rank p-value of per-user ``differences`` (1 when none is
    nonzero). The normal approximation on both scipy lines (its argument was renamed)."""
    from scipy import stats
    differences = np.asarray(differences, dtype=np.float64)
    if not np.any(differences != 0):
        return 1.0
    parameters = inspect.signature(stats.wilcoxon).parameters
    approximation = {"method" if "method" in parameters else "mode": "approx"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few nonzero differences: the approximation is rough
        return float(stats.wilcoxon(differences, **approximation).pvalue)


def verdict(kind, difference, low, high, p_holm):
    if kind == "equal":
        return "differ (interval excludes 0)" if low > 0 or high < 0 else \
            "no difference shown (interval includes 0)"
    if p_holm < ALPHA and difference > 0:
        return "holds"
    if p_holm < ALPHA and difference < 0:
        return "reversed"
    return "not shown"


def _best(names, rows, metric):
    measured = [n for n in names if rows[n].n and metric in rows[n].metrics]
    return max(measured, key=lambda n: rows[n].metrics[metric][0]) if measured else None


class OutcomeReader(object):
    """Per-user values of one run, read once per file."""

    def __init__(self):
        self.loaded = {}

    def values(self, path, metric):
        from utility.evaluation.outcomes import per_user, read_outcome
        if path not in self.loaded:
            self.loaded[path] = read_outcome(path)
        return per_user(self.loaded[path], metric)


def paired_values(row_a, row_b, metric, reader):
    """(seeds, users, A's and B's per-user values averaged over those seeds), or the reason
    nothing can be paired."""
    outcomes_a, outcomes_b = getattr(row_a, "outcomes", {}), getattr(row_b, "outcomes", {})
    seeds = [s for s in row_a.seeds if s in row_b.seeds and outcomes_a.get(s) and
             outcomes_b.get(s) and os.path.exists(outcomes_a[s]) and
             os.path.exists(outcomes_b[s])]
    if not seeds:
        return NO_OUTCOMES
    users, sums_a, sums_b = None, 0.0, 0.0
    for seed in seeds:
        negatives_a, negatives_b = row_a.negatives.get(seed), row_b.negatives.get(seed)
        if negatives_a and negatives_b and negatives_a != negatives_b:
            return UNPAIRED
        try:
            users_a, values_a = reader.values(outcomes_a[seed], metric)
            users_b, values_b = reader.values(outcomes_b[seed], metric)
        except ValueError:  # the outcomes lack this protocol
            return NO_OUTCOMES
        if not np.array_equal(users_a, users_b) or (
                users is not None and not np.array_equal(users, users_a)):
            return UNPAIRED
        users, sums_a, sums_b = users_a, sums_a + values_a, sums_b + values_b
    return seeds, users, sums_a / len(seeds), sums_b / len(seeds)


def _untested(metric, better, worse, rows, reason):
    (mean_b, sd_b), (mean_w, sd_w) = rows[better].metrics[metric], rows[worse].metrics[metric]
    return Judgement(metric, better, worse, mean_b, sd_b, mean_w, sd_w, None, None, None,
                     None, None, None, None, reason)


def judge(claim, rows, metric, reader=None):
    """The Judgement of ``claim`` on ``metric`` before Holm's correction (``p_holm`` and
    ``verdict`` None when tested), or None when a side has no finished run measuring it."""
    better, worse = _best(claim.better, rows, metric), _best(claim.worse, rows, metric)
    if better is None or worse is None:
        return None
    paired = paired_values(rows[better], rows[worse], metric, reader or OutcomeReader())
    if isinstance(paired, str):
        return _untested(metric, better, worse, rows, paired)
    seeds, users, values_better, values_worse = paired
    differences = values_better - values_worse
    low, high = bootstrap_interval(differences)
    (mean_b, sd_b), (mean_w, sd_w) = rows[better].metrics[metric], rows[worse].metrics[metric]
    return Judgement(metric, better, worse, mean_b, sd_b, mean_w, sd_w, seeds, len(users),
                     float(differences.mean()), low, high, paired_p(differences), None, None)


def judge_all(claims, rows):
    """(the metrics read, [(claim, [Judgement or None per metric])]), Holm-corrected per
    metric across ``claims`` and with verdicts."""
    metrics, reader = claim_metrics(rows), OutcomeReader()
    table = [[judge(claim, rows, metric, reader) for metric in metrics] for claim in claims]
    for column in range(len(metrics)):
        judged = [row[column] for row in table]
        adjusted = holm([j.p if j is not None else None for j in judged])
        for claim, row, p_holm in zip(claims, table, adjusted):
            j = row[column]
            if j is not None and j.p is not None:
                row[column] = j._replace(p_holm=p_holm, verdict=verdict(
                    claim.kind, j.difference, j.low, j.high, p_holm))
    return metrics, list(zip(claims, table))


def claim_metrics(rows):
    """The metrics claims are read on: HR@5 and NDCG@5 (the paper's tables all have them),
    else full-ranking Recall@20 and NDCG@20."""
    measured = set(m for row in rows.values() for m in row.metrics)
    for pair in (("hit@5", "ndcg@5"), ("full_recall@20", "full_ndcg@20")):
        if measured.issuperset(pair):
            return list(pair)
    return sorted(measured)[:2]


def _figure(mean, sd):
    return "%.4f" % mean + (" ± %.4f" % sd if sd is not None else "")


def _p(value):
    return "" if value is None else ("%.2g" % value if value < 0.001 else "%.3f" % value)


def cells(judgement, labels):
    """The summary table's cells of one metric's reading: better, worse (mean ± sd over
    seeds), seeds x users, difference, interval, p, Holm p, verdict."""
    j = judgement
    sides = ["%s %s" % (labels[j.better], _figure(j.mean_better, j.sd_better)),
             "%s %s" % (labels[j.worse], _figure(j.mean_worse, j.sd_worse))]
    if j.p is None:
        return sides + ["", "", "", "", "", j.verdict]
    return sides + ["%d x %d" % (len(j.seeds), j.users), "%+.4f" % j.difference,
                    "[%+.4f, %+.4f]" % (j.low, j.high), _p(j.p), _p(j.p_holm), j.verdict]


HEADER = ["claim", "metric", "A (mean ± sd over seeds)", "B (mean ± sd over seeds)",
          "seeds x users", "A - B", "95 % interval", "p", "Holm p", "verdict"]


def claim_table(metrics, judged, labels):
    """Markdown lines: one row per claim and metric."""
    from experiments.plot import metric_label
    lines = ["| %s |" % " | ".join(HEADER), "|%s" % (" --- |" * len(HEADER))]
    for claim, judgements in judged:
        for metric, j in zip(metrics, judgements):
            reading = cells(j, labels) if j is not None else \
                ["", "", "", "", "", "", "", "no finished runs on one side"]
            lines.append("| %s |" % " | ".join([claim.text, metric_label(metric)] + reading))
    return lines


def claim_line(claim, metrics, judgements):
    """One line for the console: per metric the difference, interval, p values, verdict."""
    parts = []
    for metric, j in zip(metrics, judgements):
        if j is None:
            parts.append("%s: no finished runs on one side" % metric)
        elif j.p is None:
            parts.append("%s: %s" % (metric, j.verdict))
        else:
            parts.append("%s %+.4f [%+.4f, %+.4f] p=%s Holm p=%s: %s" % (
                metric, j.difference, j.low, j.high, _p(j.p), _p(j.p_holm), j.verdict))
    return "%s: %s" % (claim.text, "; ".join(parts))
