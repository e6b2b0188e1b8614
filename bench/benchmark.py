"""Time MCLN's load, training step, epoch and evaluation; count FLOPs; compare to a roofline.

    python -m bench.benchmark --dataset amazon --data_path Data
    python -m bench.benchmark --synthetic 20000,100000,300000,4096,300 --steps 3
    python -m bench.benchmark --scaling                 # synthetic sizes, one process each

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
* evaluation: utility.evaluation.evaluator.evaluate on ``--eval_users`` test users (cache refresh plus
  100 candidates per user, ``--eval_users_per_call`` users per call), scaled to all test
  users as refresh + scoring x all / timed;
* FLOPs per step from the shapes (bench/flops.py), achieved GFLOP/s = FLOPs / step time,
  and a plain TF matmul roofline measured in this process with the same thread settings;
* peak resident memory of this process (ru_maxrss).
"""
import argparse
import json
import os
import sys

import numpy as np

from bench.environment import code_version, machine, peak_rss_mb
from bench.flops import evaluation_flops, training_forward_flops
from bench.measure import (build, load_real, load_synthetic, roofline, time_evaluation,
                           time_training)
from bench.report import compare_to_release, report_lines


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
        help="run the synthetic scaling sweep (bench.scaling) instead")
    return parser


def parse(argv=None):
    """Bench flags, plus main.py's flags and presets (utility.config.flags) for the rest."""
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args, rest = bench_parser().parse_known_args(argv)
    if bench_args.help:
        bench_parser().print_help()
        print("\nplus every flag of main.py:")
        from utility.config.flags import build_parser
        build_parser().print_help()
        sys.exit(0)
    if bench_args.synthetic and not any(a == "--dataset" or a.startswith("--dataset=")
                                        for a in rest):
        rest += ["--dataset", "amazon"]  # the release's Beauty hyperparameters
    from utility.config.flags import parse_args
    args = parse_args(rest)
    for key, value in vars(bench_args).items():
        setattr(args, key, value)
    return args


def run(args):
    if args.xla:
        from utility.run.session import enable_xla_flags
        enable_xla_flags()  # before TF creates any session, or the flag is ignored
    import tensorflow.compat.v1 as tf
    from utility.data.sampler import TrainSampler

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
