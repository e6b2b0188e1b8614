"""Does --xla compile anything, and does it compute the same numbers?

    python -m bench.xla_check [--tolerance 1e-5] [--json FILE]

Builds the model twice on a tiny seeded synthetic dataset with the same weights, runs one
session with XLA auto-clustering and one without, and compares on the same batch: the
loss terms and every gradient; then one Adam step each and the loss on a
second batch; then the evaluation scores of a few users. Prints the number of XLA clusters
run and the largest absolute difference; exits 1 if it exceeds the tolerance or if XLA
compiled nothing.
"""
import argparse
import json
import sys

import numpy as np


def build(tf, dataset, adjacency, hp, xla, threads):
    """The model started through the one builder, plus the ops that compare two of them:
    each parameter's gradient and an assignment that loads given weights."""
    from utility.run.build import model_and_config, start
    cls, config = model_and_config(hp)
    graph, session, model = start(cls, config, dataset, adjacency, 7, threads, xla)
    with graph.as_default():  # no new variables: the initialised session stays valid
        pairs = [(v, g) for v, g in zip(model.parameters,
                                        tf.gradients(model.training.loss, model.parameters))
                 if g is not None]
        gradients = {v.op.name: tf.convert_to_tensor(g) for v, g in pairs}
        placeholders = {v.op.name: tf.placeholder(tf.float32, v.shape) for v in model.parameters}
        load = tf.group(*[tf.assign(v, placeholders[v.op.name]) for v in model.parameters])
    return model, session, gradients, placeholders, load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from utility.run.session import enable_xla_flags, xla_cluster_count
    enable_xla_flags()  # before any session exists in this process
    import tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    from bench.synthetic import make_synthetic
    from utility.evaluation.evaluator import HeldOut, sampled_candidates
    from utility.data.load import normalized_adjacency
    from utility.config.flags import parse_args
    from utility.data.sampler import TrainSampler

    hp = parse_args(["--dataset", "amazon", "--batch_size", "16", "--embed_size", "8"])
    dataset = make_synthetic(60, 120, 600, 16, 8, seed=3)
    adjacency = normalized_adjacency(dataset, hp.adj_b)[:2]
    plain = build(tf, dataset, adjacency, hp, False, args.threads)
    jit = build(tf, dataset, adjacency, hp, True, args.threads)
    weights = plain[1].run({name: v for name, v in zip(
        [v.op.name for v in plain[0].parameters], plain[0].parameters)})
    for model, session, _, placeholders, load in (plain, jit):
        session.run(load, {placeholders[name]: value for name, value in weights.items()})

    sampler = TrainSampler(dataset, hp.batch_size, np.random.RandomState(0))
    batches = [sampler.sample() for _ in range(2)]
    users, candidates = sampled_candidates(HeldOut.test_split_of(dataset),
                                           np.random.RandomState(1))
    candidates = candidates[:8]

    def feed(model, batch):
        return model.training_feed(batch)

    outputs, clusters = [], {}
    for label, (model, session, gradients, _, _) in (("plain", plain), ("xla", jit)):
        fetch = dict(model.training.parts, loss=model.training.loss)
        fetch.update(("grad/" + name, g) for name, g in gradients.items())
        clusters[label + "_forward_backward"] = xla_cluster_count(session, fetch,
                                                                  feed(model, batches[0]))
        values = session.run(fetch, feed(model, batches[0]))
        session.run(model.training.train_op, feed(model, batches[0]))
        values["loss_after_step"] = session.run(model.training.loss, feed(model, batches[1]))
        session.run(model.ranking.refresh)
        sampled = model.ranking.sampled
        eval_feed = {sampled.users: users[:8], sampled.candidates: candidates}
        clusters[label + "_evaluation"] = xla_cluster_count(session, sampled.scores, eval_feed)
        values["eval_scores"] = session.run(sampled.scores, eval_feed)
        outputs.append(values)
    differences = {key: float(np.max(np.abs(np.asarray(outputs[0][key], np.float64)
                                            - np.asarray(outputs[1][key], np.float64))))
                   for key in outputs[0]}
    worst = max(differences, key=differences.get)
    compiled = clusters["xla_forward_backward"] > 0
    ok = compiled and differences[worst] <= args.tolerance
    result = {"tensorflow": tf.__version__, "clusters": clusters,
              "max_abs_difference": differences[worst], "worst": worst,
              "tolerance": args.tolerance, "ok": ok,
              "differences": differences, "loss": float(outputs[0]["loss"])}
    print("TF %s: XLA clusters run: %s" % (tf.__version__, clusters))
    print("largest |xla - plain| = %.3g (%s) over %d compared outputs; loss %.6f; "
          "tolerance %.0e: %s" % (differences[worst], worst, len(differences), result["loss"],
                                  args.tolerance, "OK" if ok else "FAILED"))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
