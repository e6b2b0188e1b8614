"""Where a training step's time goes: per-op-type totals from a traced session run.

    python -m bench.profile_step --dataset amazon --data_path Data [--top 25] [--runs 3]
    python -m bench.profile_step --dataset amazon --data_path Data --profile_eval

Takes the same flags as bench.benchmark. The op times are summed over the threads that
ran them, so on a multi-core machine they add up to more than the step's wall time.
"""
import collections
import sys

import numpy as np

from bench.benchmark import parse
from bench.measure import build, load_real, load_synthetic


def op_times(run_metadata, graph):
    """{(op type, node name): microseconds} summed over the traced run's devices."""
    times = collections.Counter()
    for device in run_metadata.step_stats.dev_stats:
        for node in device.node_stats:
            name = node.node_name.split(":")[0]
            try:
                kind = graph.get_operation_by_name(name).type
            except KeyError:
                kind = node.timeline_label.split("=")[-1].split("(")[0].strip() or name
            times[(kind, name)] += node.op_end_rel_micros - node.op_start_rel_micros
    return times


def training_call(model, sampler):
    """(fetches, feed function) of one training step on a fresh batch."""
    return [model.training.train_op, model.training.loss], \
        lambda: model.training_feed(sampler.sample())


def evaluation_call(session, model, dataset, users_per_call):
    """(fetches, feed function) of one scoring call of ``users_per_call`` test users."""
    from utility.evaluation.evaluator import HeldOut, sampled_candidates
    users, candidates = sampled_candidates(HeldOut.test_split_of(dataset),
                                           np.random.RandomState(1))
    session.run(model.ranking.refresh)
    sampled = model.ranking.sampled
    feed = {sampled.users: users[:users_per_call], sampled.candidates: candidates[:users_per_call]}
    return sampled.ranks, lambda: feed


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    top, runs = 25, 3
    profile_eval = "--profile_eval" in argv
    argv = [a for a in argv if a != "--profile_eval"]
    for flag in ("--top", "--runs"):
        if flag in argv:
            at = argv.index(flag)
            value = int(argv[at + 1])
            del argv[at:at + 2]
            top, runs = (value, runs) if flag == "--top" else (top, value)
    args = parse(argv)
    if args.xla:
        from utility.run.session import enable_xla_flags
        enable_xla_flags()
    import tensorflow.compat.v1 as tf
    from utility.data.sampler import TrainSampler
    dataset, adjacency, _ = (load_synthetic if args.synthetic else load_real)(args)
    sampler = TrainSampler(dataset, args.batch_size, np.random.RandomState(args.seed))
    model, session, _ = build(args, dataset, adjacency)

    if profile_eval:
        fetches, feed = evaluation_call(session, model, dataset, args.eval_users_per_call)
    else:
        fetches, feed = training_call(model, sampler)
    for _ in range(2):
        session.run(fetches, feed())
    totals = collections.Counter()
    for _ in range(runs):
        metadata = tf.RunMetadata()
        session.run(fetches, feed(), options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
                    run_metadata=metadata)
        totals.update(op_times(metadata, session.graph))
    by_type = collections.Counter()
    for (kind, _), micros in totals.items():
        by_type[kind] += micros
    total = float(sum(by_type.values()))
    print("TF %s: op time per %s, summed over threads: %.3f s" % (
        tf.__version__, "evaluation call" if profile_eval else "training step",
        total / runs / 1e6))
    print("by op type:")
    for kind, micros in by_type.most_common(top):
        print("  %-32s %8.1f ms  %5.1f %%" % (kind, micros / runs / 1e3, 100 * micros / total))
    print("by node:")
    for (kind, name), micros in totals.most_common(top):
        print("  %-70s %-22s %8.1f ms" % (name[-70:], kind, micros / runs / 1e3))


if __name__ == "__main__":
    main()
