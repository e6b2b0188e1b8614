"""The benchmark's report: printed lines, and the comparison with the authors' release."""
from bench.noise import QUIET_SHARE

# The authors' release on the prepared Beauty data (962-d image, 300-d text), TF 1.15.5,
# batch 2048, on these 2-core machines (issue 5).
RELEASE_BEAUTY = {"epoch_seconds": 78.9, "steps_per_epoch": 61, "eval_seconds": 839.5,
                  "eval_users": 15576, "peak_rss_gb": 1.72, "adjacency_seconds": 8.2}
# Issue 5's targets, as fractions of the release's figure (informational; never asserted).
TARGETS = {"epoch_seconds_tf2": 1 / 3.0, "epoch_seconds_tf1": 1 / 1.2,
           "eval_seconds": 1 / 50.0, "load_warm_seconds": 1 / 10.0}


def compare_to_release(results, tf_major):
    """Ratios ours / release's on Beauty, and issue 5's targets (informational)."""
    ref = RELEASE_BEAUTY
    epoch_target = TARGETS["epoch_seconds_tf2" if tf_major >= 2 else "epoch_seconds_tf1"]
    rows = {}

    def row(name, ours, release, target=None):
        if ours is None:
            return
        entry = {"ours": ours, "release": release, "ratio": ours / release}
        if target is not None:
            entry["target_ratio"] = target
            entry["meets_target"] = entry["ratio"] <= target
        rows[name] = entry

    row("epoch_seconds", results.get("epoch_seconds"), ref["epoch_seconds"], epoch_target)
    row("eval_seconds", results.get("eval_seconds"), ref["eval_seconds"], TARGETS["eval_seconds"])
    row("load_warm_vs_release_adjacency_seconds", results.get("load_warm_seconds"),
        ref["adjacency_seconds"], TARGETS["load_warm_seconds"])
    row("load_cold_adjacency_seconds", results.get("load_cold_adjacency_seconds"),
        ref["adjacency_seconds"])
    row("peak_rss_gb", results["peak_rss_mb"] / 1024.0, ref["peak_rss_gb"])
    return {"release": ref, "comparison": rows}


def report_lines(r):
    def fmt(value, unit="", digits=3):
        return "n/a" if value is None else ("%.*f%s" % (digits, value, unit))

    lines = ["MCLN benchmark: %s, TF %s, Python %s, code %s%s" % (
                 r["data"], r["tensorflow"], r["machine"]["python"], r["code"]["git_head"],
                 " + uncommitted changes" if r["code"]["uncommitted_changes"] else ""),
             "machine: %s, %s cores, %s GB (shared: load average at start %s)" % (
                 r["machine"].get("cpu"), r["machine"].get("cpus"),
                 r["machine"].get("memory_gb"), r["machine"].get("load_average")),
             "settings: batch %d, embed %d, n_layers %d, n_mca %d, threads %d, xla %s" % (
                 r["batch_size"], r["embed_size"], r["n_layers"], r["n_mca"], r["threads"],
                 r["xla"]),
             "load cold                %s s (adjacency %s s)" % (
                 fmt(r.get("load_cold_seconds")), fmt(r.get("load_cold_adjacency_seconds"))),
             "load warm                %s s" % fmt(r.get("load_warm_seconds")),
             "graph                    %d bytes GraphDef, built in %s s, init+feed %s s" % (
                 r["graph_def_bytes"], fmt(r["graph_build_seconds"]),
                 fmt(r["init_and_feed_seconds"]))]
    if "step_seconds" in r:
        lines += ["first step               %s s%s" % (
                      fmt(r["first_step_seconds"]),
                      " (%d XLA clusters)" % r["xla_clusters"] if "xla_clusters" in r else ""),
                  "step (median of %d)      %s s (session %s s + sampling %s s)" % (
                      len(r["step_seconds_all"]), fmt(r["step_seconds"]),
                      fmt(r["step_session_seconds"]), fmt(r["step_sample_seconds"], "", 4)),
                  "epoch                    %s s (%d steps)" % (
                      fmt(r["epoch_seconds"], "", 2), r["steps_per_epoch"]),
                  "quiet steps only         %s s per step, epoch %s s (steps while other "
                  "processes used < %d %% of the CPUs)" % (
                      fmt(r.get("step_seconds_quiet")), fmt(r.get("epoch_seconds_quiet"), "", 2),
                      100 * QUIET_SHARE),
                  "CPU while timing steps   ours %s, other processes %s of %s cores" % (
                      fmt(r["training_cpu"].get("own_cpu_share"), "", 2),
                      fmt(r["training_cpu"].get("other_cpu_share"), "", 2),
                      r["machine"].get("cpus")),
                  "FLOPs per step           %.2f GFLOP (3 x forward %.2f)" % (
                      r["flops_per_step"] / 1e9, r["flops_per_step"] / 3e9),
                  "achieved                 %.1f GFLOP/s (median step; best step %.1f)" % (
                      r["achieved_gflops_per_second"],
                      r["achieved_gflops_per_second_best_step"])]
    if "eval_seconds" in r:
        lines.append("evaluation, %d users    %s s%s (refresh %s s; %d users per call)" % (
            r["eval_users_total"], fmt(r["eval_seconds"], "", 2),
            " scaled from %d users" % r["eval_users_timed"] if r["eval_scaled"] else "",
            fmt(r["eval_refresh_seconds"]), r["eval_users_per_call"]))
        lines.append("evaluation, quiet pieces %s s (other processes' CPU share per piece: %s)"
                     % (fmt(r.get("eval_seconds_quiet"), "", 2), " ".join(
                         fmt(x, "", 2) for x in r["eval_chunk_other_cpu_share"])))
    for name, entry in r.get("roofline", {}).items():
        lines.append("roofline %-32s %.1f GFLOP/s" % (name, entry["gflops_per_second"]))
    if "roofline_cpu" in r:
        lines.append("CPU while roofline       ours %s, other processes %s" % (
            fmt(r["roofline_cpu"].get("own_cpu_share"), "", 2),
            fmt(r["roofline_cpu"].get("other_cpu_share"), "", 2)))
    if "ratio_to_roofline" in r:
        lines.append("achieved / roofline      %.2f (roofline = best of the shapes above)"
                     % r["ratio_to_roofline"])
    lines.append("peak RSS                 %.0f MB" % r["peak_rss_mb"])
    for name, entry in r.get("release_beauty", {}).get("comparison", {}).items():
        target = ""
        if "target_ratio" in entry:
            target = " (target <= %.3f: %s)" % (entry["target_ratio"],
                                                "met" if entry["meets_target"] else "NOT met")
        lines.append("vs release %-38s ours %.3f / release %.3f = %.3f%s" % (
            name, entry["ours"], entry["release"], entry["ratio"], target))
    return lines
