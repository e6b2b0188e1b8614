"""Time MCLN's load, training step, epoch and evaluation; count FLOPs; compare to a roofline.

    python bench/benchmark.py --dataset amazon --data_path Data
    python bench/benchmark.py --synthetic 20000,100000,300000,4096,300 --steps 3
    python bench/benchmark.py --scaling                 # synthetic sizes, one process each

Every flag of main.py is accepted (``--batch_size``, ``--threads``, ``--xla``, ...) and the
dataset's preset fills the hyperparameters, as in main.py; a synthetic run uses the Beauty
preset unless ``--dataset`` names another. Timings are wall-clock seconds on whatever else
the machine is doing: repeat a run when a figure looks noisy.

What is measured:
* load: parse the text files and build the normalised adjacency on a temporary copy of the
  data folder without its ``.cache`` (cold), then again from the cache just written (warm);
  for synthetic data, the adjacency build only (there is no text to parse);
* training: ``--warmup`` steps, then ``--steps`` timed steps (sampling + one session call,
  as main.py runs them); the median is the step time, steps_per_epoch x step the epoch time;
* evaluation: utility.evaluation.evaluate on ``--eval_users`` test users (cache refresh plus
  100 candidates per user, ``--eval_users_per_call`` users per call), scaled to all test
  users as refresh + scoring x all / timed;
* FLOPs per step from the shapes (bench/flops.py), achieved GFLOP/s = FLOPs / step time,
  and a plain TF matmul roofline measured in this process with the same thread settings;
* peak resident memory of this process (ru_maxrss).
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from bench.flops import evaluation_flops, matmul_flops, training_forward_flops  # noqa: E402

# The authors' release on the prepared Beauty data (962-d image, 300-d text), TF 1.15.5,
# batch 2048, on these 2-core machines (issue 5).
RELEASE_BEAUTY = {"epoch_seconds": 78.9, "steps_per_epoch": 61, "eval_seconds": 839.5,
                  "eval_users": 15576, "peak_rss_gb": 1.72, "adjacency_seconds": 8.2}
# Issue 5's targets, as fractions of the release's figure (informational; never asserted).
TARGETS = {"epoch_seconds_tf2": 1 / 3.0, "epoch_seconds_tf1": 1 / 1.2,
           "eval_seconds": 1 / 50.0, "load_warm_seconds": 1 / 10.0}
EVAL_CHUNKS = 8
QUIET_SHARE = 0.1  # a measurement is "quiet" when other processes used < 10 % of the CPUs
ROOFLINE_SHAPES = {  # (m, k, n): float32 products like the model's, and a square one
    "attention_PV_2048x2048x192": (2048, 2048, 192),
    "attention_QKt_2048x192x2048": (2048, 192, 2048),
    "square_2048": (2048, 2048, 2048),
}


def bench_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    add = parser.add_argument
    add("-h", "--help", action="store_true")
    add("--synthetic", default=None,
        help="USERS,ITEMS,INTERACTIONS,IMAGE_DIM[,TEXT_DIM] generated in memory (k/M ok)")
    add("--synthetic_seed", type=int, default=0)
    add("--steps", type=int, default=10, help="timed training steps")
    add("--warmup", type=int, default=2, help="untimed training steps first")
    add("--eval_users", default="all",
        help="test users to time the evaluation on ('all', or N: scaled up to all; 0: skip)")
    add("--roofline_size", type=int, default=2048,
        help="edge of the roofline matmuls (0: skip the roofline)")
    add("--roofline_repeats", type=int, default=4, help="runs per shape in each of 3 rounds")
    add("--json", default=None, help="also write the results here")
    add("--scaling", action="store_true",
        help="run the synthetic scaling sweep (bench/scaling.py) instead")
    return parser


def parse(argv=None):
    """Bench flags, plus main.py's flags and presets (utility.parser) for the rest."""
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args, rest = bench_parser().parse_known_args(argv)
    if bench_args.help:
        bench_parser().print_help()
        print("\nplus every flag of main.py:")
        from utility.parser import build_parser
        build_parser().print_help()
        sys.exit(0)
    if bench_args.synthetic and not any(a == "--dataset" or a.startswith("--dataset=")
                                        for a in rest):
        rest += ["--dataset", "amazon"]  # the release's Beauty hyperparameters
    from utility.parser import parse_args
    args = parse_args(rest)
    for key, value in vars(bench_args).items():
        setattr(args, key, value)
    return args


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
        info["load_average"] = list(os.getloadavg())
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle
                     if line.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
        with open("/proc/meminfo") as handle:
            total_kb = int(handle.readline().split()[1])
        info["memory_gb"] = round(total_kb / 1024.0 ** 2, 1)
    except (IOError, IndexError, ValueError):
        info["cpu"] = platform.processor()
    return info


def code_version():
    """The checkout being measured: HEAD and whether model/ or utility/ differ from it."""
    def git(*command):
        try:
            return subprocess.run(["git", "-C", REPO] + list(command), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, universal_newlines=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"git_head": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_changes": git("status", "--porcelain", "--", "model", "utility")
            .splitlines()}


def silent(*_):
    pass


class CpuShare(object):
    """How much of the machine's CPU went to this process, and to everything else, over an
    interval (from /proc/stat and this process's rusage): the shared-machine noise gauge."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            with open("/proc/stat") as handle:
                fields = [float(x) for x in handle.readline().split()[1:]]
            ticks = os.sysconf("SC_CLK_TCK")
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / ticks  # minus idle, iowait
        except (IOError, ValueError, IndexError):
            busy = None
        return time.time(), usage.ru_utime + usage.ru_stime, busy

    def stop(self):
        (wall0, own0, busy0), (wall1, own1, busy1) = self.start, self._sample()
        capacity = (wall1 - wall0) * (os.cpu_count() or 1)
        share = {"own_cpu_share": (own1 - own0) / capacity if capacity else None}
        if busy0 is not None and busy1 is not None and capacity:
            share["other_cpu_share"] = max(0.0, (busy1 - busy0) - (own1 - own0)) / capacity
        return share


# ----------------------------------------------------------------------------------- load
def load_real(args):
    """Cold and warm load of a dataset folder, on a temporary copy (the original's cache is
    left alone). Returns (dataset, adjacency, timings)."""
    from utility.load_data import cached_adjacency, load_dataset
    if not os.path.isdir(args.data_dir):
        sys.exit("error: dataset folder %s not found" % args.data_dir)
    scratch = tempfile.mkdtemp(prefix="mcln-bench-")
    copy = os.path.join(scratch, os.path.basename(os.path.normpath(args.data_dir)))
    try:
        shutil.copytree(args.data_dir, copy, ignore=shutil.ignore_patterns(".cache"))
        timings = {}
        for kind in ("cold", "warm"):
            start = time.time()
            dataset = load_dataset(copy, args.modality_list, log=silent)
            parsed = time.time()
            adjacency = cached_adjacency(copy, dataset, args.adj_b, log=silent)
            done = time.time()
            timings["load_%s_seconds" % kind] = done - start
            timings["load_%s_adjacency_seconds" % kind] = done - parsed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dataset, adjacency, timings


def load_synthetic(args):
    from bench.synthetic import make_synthetic, parse_size
    from utility.load_data import normalized_adjacency
    size = parse_size(args.synthetic)
    start = time.time()
    dataset = make_synthetic(seed=args.synthetic_seed, **size)
    generated = time.time()
    adjacency = normalized_adjacency(dataset, args.adj_b)
    done = time.time()
    if "text" not in dataset.features:
        args.modality_list = ["image"]
    return dataset, adjacency, {"generate_seconds": generated - start,
                                "load_cold_seconds": done - generated,
                                "load_cold_adjacency_seconds": done - generated,
                                "load_warm_seconds": None, "synthetic_size": size}


# ------------------------------------------------------------------------------- roofline
def roofline(threads, size, repeats, passes=3):
    """GFLOP/s of plain float32 tf.matmul at attention-like and square shapes (no XLA).

    The shapes take turns over ``passes`` rounds of ``repeats`` runs each, and the best run
    of each shape counts: a roofline is an upper bound, and on a shared machine the best
    run is the one least disturbed by other processes.
    """
    import tensorflow.compat.v1 as tf
    from utility.session import make_session
    scale = size / 2048.0
    graph = tf.Graph()
    products, shapes = {}, {}
    with graph.as_default():
        for name, (m, k, n) in ROOFLINE_SHAPES.items():
            m, k, n = [max(1, int(round(x * scale))) for x in (m, k, n)]
            transpose_b = "QKt" in name  # as the attention logits: (B x c)(B x c)^T
            a = tf.Variable(tf.random_normal([m, k], seed=1))
            b = tf.Variable(tf.random_normal([n, k] if transpose_b else [k, n], seed=2))
            products[name] = tf.matmul(a, b, transpose_b=transpose_b).op
            shapes[name] = [m, k, n]
        init = tf.global_variables_initializer()
    seconds = {name: [] for name in products}
    gauge = CpuShare()
    with make_session(graph, threads) as session:
        session.run(init)
        for _ in range(passes):
            for name, product in products.items():
                session.run(product)  # warm-up; no fetch, so nothing is copied out
                for _ in range(repeats):
                    start = time.time()
                    session.run(product)
                    seconds[name].append(time.time() - start)
    results = {}
    for name, times in seconds.items():
        best = float(np.min(times))
        results[name] = {"shape": shapes[name], "seconds": best,
                         "median_seconds": float(np.median(times)),
                         "gflops_per_second": matmul_flops(*shapes[name]) / best / 1e9}
    return results, gauge.stop()


# ---------------------------------------------------------------------------------- model
def build(args, dataset, adjacency):
    from model.MCLN import build_graph
    from utility.session import make_session
    indices, values = adjacency[0], adjacency[1]
    start = time.time()
    feature_dims = {m: dataset.features[m].shape[1] for m in args.modality_list}
    graph, model, init = build_graph(args, dataset.n_users, dataset.n_items, feature_dims,
                                     len(values))
    graph_def_bytes = graph.as_graph_def().ByteSize()
    built = time.time()
    session = make_session(graph, args.threads, args.xla)
    session.run(init)
    model.feed_data(session, indices, values, dataset.features)
    dataset.features.clear()  # as main.py does
    fed = time.time()
    return model, session, {"graph_build_seconds": built - start,
                            "init_and_feed_seconds": fed - built,
                            "graph_def_bytes": graph_def_bytes}


def time_training(args, model, session, sampler):
    from utility.session import xla_cluster_count

    def feed():
        users, pos, neg, intervention = sampler.sample()
        return {model.users: users, model.pos_items: pos, model.neg_items: neg,
                model.int_items: intervention}

    fetches = [model.train_op, model.loss, model.mf_loss, model.emb_loss]
    out = {}
    start = time.time()
    if args.xla:
        out["xla_clusters"] = xla_cluster_count(session, fetches, feed())
    else:
        session.run(fetches, feed())
    out["first_step_seconds"] = time.time() - start
    for _ in range(max(0, args.warmup - 1)):
        session.run(fetches, feed())
    sample_seconds, run_seconds, losses, others = [], [], [], []
    gauge = CpuShare()
    for _ in range(args.steps):
        step_gauge = CpuShare()
        start = time.time()
        batch = feed()
        sampled = time.time()
        _, loss, _, _ = session.run(fetches, batch)
        run_seconds.append(time.time() - sampled)
        sample_seconds.append(sampled - start)
        losses.append(float(loss))
        others.append(step_gauge.stop().get("other_cpu_share"))
    steps = np.array(sample_seconds) + np.array(run_seconds)
    out.update(step_seconds=float(np.median(steps)), step_seconds_all=steps.tolist(),
               step_other_cpu_share=others,
               step_session_seconds=float(np.median(run_seconds)),
               step_session_seconds_min=float(np.min(run_seconds)),
               step_sample_seconds=float(np.median(sample_seconds)),
               steps_per_epoch=sampler.steps_per_epoch,
               epoch_seconds=float(np.median(steps)) * sampler.steps_per_epoch,
               losses=losses, training_cpu=gauge.stop())
    quiet_steps = quiet(steps, others)
    if quiet_steps is not None:
        out["step_seconds_quiet"] = quiet_steps
        out["epoch_seconds_quiet"] = quiet_steps * sampler.steps_per_epoch
    return out


def quiet(seconds, other_shares, threshold=QUIET_SHARE, minimum=3):
    """Median of the measurements taken while other processes used < ``threshold`` of the
    machine, when there are at least ``minimum`` of them (else None)."""
    kept = [t for t, other in zip(seconds, other_shares) if other is not None and
            other < threshold]
    return float(np.median(kept)) if len(kept) >= minimum else None


def time_evaluation(args, model, session, dataset):
    from utility.evaluation import HeldOut, evaluate, sampled_candidates, sampled_ranks
    from utility.metrics import rank_metrics
    users, candidates = sampled_candidates(HeldOut.test_split_of(dataset),
                                           np.random.RandomState(args.seed + 1))
    total = len(users)
    timed = total if args.eval_users == "all" else min(total, int(args.eval_users))
    per_call = args.eval_users_per_call
    # Warm-up: the first refresh and the first scoring call pay graph optimisation (and XLA
    # compilation); a long evaluation amortises them, so they are reported, not counted.
    start = time.time()
    session.run(model.refresh_eval_cache)
    first_refresh = time.time() - start
    start = time.time()
    evaluate(session, model, users[:per_call], candidates[:per_call], args.Ks, per_call)
    first_call = time.time() - start
    refreshes = []
    for _ in range(3):
        start = time.time()
        session.run(model.refresh_eval_cache)
        refreshes.append(time.time() - start)
    refresh = float(np.median(refreshes))
    # evaluate() is the refresh plus sampled_ranks(); they are timed apart (at 100k items a
    # refresh can take as long as scoring a thousand users, and its noise would swamp a
    # subtraction). Scoring runs in up to EVAL_CHUNKS pieces, each with its own CPU gauge, so
    # that a burst of other processes shows in one piece rather than in the total.
    scorings, others, sizes, ranks = [], [], [], []
    chunk = max(per_call, -(-timed // EVAL_CHUNKS) // per_call * per_call)
    for begin in range(0, timed, chunk):
        stop = min(timed, begin + chunk)
        gauge = CpuShare()
        start = time.time()
        ranks.append(sampled_ranks(session, model, users[begin:stop], candidates[begin:stop],
                                   per_call))
        scorings.append(time.time() - start)
        others.append(gauge.stop().get("other_cpu_share"))
        sizes.append(stop - begin)
    metrics = rank_metrics(np.concatenate(ranks), args.Ks)
    per_user = np.array(scorings) / np.array(sizes)
    out = {"eval_users_total": total, "eval_users_timed": timed,
           "eval_users_per_call": per_call, "eval_first_refresh_seconds": first_refresh,
           "eval_first_call_seconds": first_call, "eval_refresh_seconds": refresh,
           "eval_refresh_seconds_all": refreshes,
           "eval_scoring_seconds_timed": float(sum(scorings)),
           "eval_seconds": refresh + float(sum(scorings)) * total / float(timed),
           "eval_scaled": timed < total, "eval_chunk_users": sizes,
           "eval_chunk_other_cpu_share": others,
           "eval_metrics": {key: float(value) for key, value in metrics.items()}}
    quiet_per_user = quiet(per_user, others, minimum=2)
    if quiet_per_user is not None:
        out["eval_seconds_quiet"] = refresh + quiet_per_user * total
    return out


# -------------------------------------------------------------------------------- report
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


def run(args):
    if args.xla:
        from utility.session import enable_xla_flags
        enable_xla_flags()  # before TF creates any session, or the flag is ignored
    import tensorflow.compat.v1 as tf
    from utility.sampler import TrainSampler

    results = {"machine": machine(), "tensorflow": tf.__version__, "code": code_version(),
               "data": args.synthetic and "synthetic " + args.synthetic or args.data_dir}
    for key in ("batch_size", "embed_size", "n_layers", "n_mca", "threads", "xla", "adj_b",
                "lambda_m", "decay", "seed", "modality_list"):
        results[key] = getattr(args, key)
    dataset, adjacency, timings = (load_synthetic if args.synthetic else load_real)(args)
    results.update(timings)
    results["rss_after_load_mb"] = peak_rss_mb()
    nnz = len(adjacency[1])
    dims = {m: int(dataset.features[m].shape[1]) for m in args.modality_list}
    results.update(n_users=dataset.n_users, n_items=dataset.n_items, n_train=dataset.n_train,
                   adjacency_nnz=nnz, feature_dims=dims)

    sampler = TrainSampler(dataset, args.batch_size, np.random.RandomState(args.seed))
    model, session, build_info = build(args, dataset, adjacency)
    results.update(build_info)
    if args.steps > 0:
        results.update(time_training(args, model, session, sampler))
        forward = training_forward_flops(args.batch_size, args.embed_size, dims.values(),
                                         args.n_layers, args.n_mca, nnz)
        results["flops_forward_by_part"] = forward
        results["flops_per_step"] = 3 * sum(forward.values())
        # Achieved rate over the session call only (sampling does no floating-point work).
        results["achieved_gflops_per_second"] = (results["flops_per_step"]
                                                 / results["step_session_seconds"] / 1e9)
        results["achieved_gflops_per_second_best_step"] = (
            results["flops_per_step"] / results["step_session_seconds_min"] / 1e9)
    results["rss_after_training_mb"] = peak_rss_mb()
    if str(args.eval_users) != "0":
        results.update(time_evaluation(args, model, session, dataset))
        flops = evaluation_flops(results["eval_users_total"], 100, dataset.n_items,
                                 args.embed_size, dims.values(), args.n_layers, args.n_mca, nnz)
        results["eval_flops"] = flops["refresh"] + flops["scoring"]
        results["eval_achieved_gflops_per_second"] = (results["eval_flops"]
                                                      / results["eval_seconds"] / 1e9)
    session.close()
    if args.roofline_size > 0:
        results["roofline"], results["roofline_cpu"] = roofline(
            args.threads, args.roofline_size, args.roofline_repeats)
        best = max(entry["gflops_per_second"] for entry in results["roofline"].values())
        results["roofline_gflops_per_second"] = best
        if "achieved_gflops_per_second" in results:
            results["ratio_to_roofline"] = results["achieved_gflops_per_second"] / best
    results["peak_rss_mb"] = peak_rss_mb()
    if not args.synthetic and os.path.basename(os.path.normpath(args.data_dir)) \
            == "amazon-beauty":
        results["release_beauty"] = compare_to_release(results,
                                                       int(tf.__version__.split(".")[0]))
    print("\n".join(report_lines(results)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1, default=float)
    return results


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.scaling:
        from bench.scaling import main as scaling_main
        return scaling_main([a for a in argv if a != "--scaling"])
    return run(args)


if __name__ == "__main__":
    main()
