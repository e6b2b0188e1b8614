"""The benchmark's measurements: load, build, training steps, evaluation, roofline.

Each returns a dict of timings (seconds) that bench.benchmark gathers into one result.
"""
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from bench.flops import matmul_flops
from bench.noise import CpuShare, quiet

EVAL_CHUNKS = 8
ROOFLINE_SHAPES = {  # (m, k, n): float32 products like the model's, and a square one
    "attention_PV_2048x2048x192": (2048, 2048, 192),
    "attention_QKt_2048x192x2048": (2048, 192, 2048),
    "square_2048": (2048, 2048, 2048),
}


def silent(*_):
    pass


def load_real(args):
    """Cold and warm load of a dataset folder, on a temporary copy (the original's cache is
    left alone). Returns (dataset, adjacency, timings)."""
    from utility.data.load import cached_adjacency, load_dataset
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
            adjacency = cached_adjacency(copy, dataset, args.adj_b, log=silent)[:2]
            done = time.time()
            timings["load_%s_seconds" % kind] = done - start
            timings["load_%s_adjacency_seconds" % kind] = done - parsed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dataset, adjacency, timings


def load_synthetic(args):
    from bench.synthetic import make_synthetic, parse_size
    from utility.data.load import normalized_adjacency
    size = parse_size(args.synthetic)
    start = time.time()
    dataset = make_synthetic(seed=args.synthetic_seed, **size)
    generated = time.time()
    adjacency = normalized_adjacency(dataset, args.adj_b)[:2]
    done = time.time()
    if "text" not in dataset.features:
        args.modality_list = ["image"]
    return dataset, adjacency, {"generate_seconds": generated - start,
                                "load_cold_seconds": done - generated,
                                "load_cold_adjacency_seconds": done - generated,
                                "load_warm_seconds": None, "synthetic_size": size}


def roofline(threads, size, repeats, passes=3):
    """GFLOP/s of plain float32 tf.matmul at attention-like and square shapes (no XLA).

    The shapes take turns over ``passes`` rounds of ``repeats`` runs each, and the best run
    of each shape counts: a roofline is an upper bound, and on a shared machine the best
    run is the one least disturbed by other processes.
    """
    import tensorflow.compat.v1 as tf
    from utility.run.session import make_session
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


def build(args, dataset, adjacency):
    """Build the model of ``args`` on ``dataset`` as main.py does: (model, session, timings)."""
    from utility.run.build import model_and_config, start
    cls, config = model_and_config(args)
    timings = {}
    graph, session, model = start(cls, config, dataset, adjacency, args.seed, args.threads,
                                  args.xla, timings)
    timings["graph_def_bytes"] = graph.as_graph_def().ByteSize()
    dataset.features.clear()  # as main.py does
    return model, session, timings


def time_training(args, model, session, sampler):
    from utility.run.session import xla_cluster_count

    def feed():
        return model.training_feed(sampler.sample())

    training = model.training
    fetches = [training.train_op, training.loss] + list(training.parts.values())
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
        loss = session.run(fetches, batch)[1]
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


def time_evaluation(args, model, session, dataset):
    from utility.evaluation.evaluator import HeldOut, evaluate, sampled_candidates, sampled_ranks
    from utility.evaluation.metrics import rank_metrics
    users, candidates = sampled_candidates(HeldOut.test_split_of(dataset),
                                           np.random.RandomState(args.seed + 1))
    total = len(users)
    timed = total if args.eval_users == "all" else min(total, int(args.eval_users))
    per_call = args.eval_users_per_call
    # Warm-up: the first refresh and the first scoring call pay graph optimisation (and XLA
    # compilation); a long evaluation amortises them, so they are reported, not counted.
    start = time.time()
    session.run(model.ranking.refresh)
    first_refresh = time.time() - start
    start = time.time()
    evaluate(session, model, users[:per_call], candidates[:per_call], args.Ks, per_call)
    first_call = time.time() - start
    refreshes = []
    for _ in range(3):
        start = time.time()
        session.run(model.ranking.refresh)
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
