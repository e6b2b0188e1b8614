"""How step time, epoch time and memory grow with items, users and interactions.

    python -m bench.scaling [--steps 3] [--eval_users 512] [--json FILE] [main.py flags]
    python -m bench.benchmark --scaling ...            # the same

Runs bench.benchmark once per synthetic size, each in its own process (peak resident
memory, ru_maxrss, is per process), with the Beauty hyperparameters (batch 2048, 4 graph
layers, 2 counterfactual layers) unless flags say otherwise. Sizes vary one axis at a time
around a base of 30k users, 10k items, 300k interactions, 4096-d image and 300-d text
features; the items axis goes up to 100,000 items with 4096-d image features.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = dict(users=30000, items=10000, interactions=300000, image_dim=4096, text_dim=300)
AXES = {"items": [10000, 30000, 100000], "users": [10000, 30000, 100000],
        "interactions": [100000, 300000, 1000000]}


def sizes():
    """(axis, size dict) for every run; the base size is run once and shared by the axes."""
    runs, seen = [], {}
    for axis, values in AXES.items():
        for value in values:
            size = dict(BASE, **{axis: value})
            key = tuple(sorted(size.items()))
            runs.append((axis, size, key in seen))
            seen[key] = True
    return runs


BUSY = 0.2


def busy(result):
    """Share of the CPUs other processes used while the steps were timed (1 on failure)."""
    if "error" in result:
        return 1.0
    return result["training_cpu"].get("other_cpu_share") or 0.0


def size_flag(size):
    return "%(users)d,%(items)d,%(interactions)d,%(image_dim)d,%(text_dim)d" % size


def run_one(size, flags, log):
    handle, path = tempfile.mkstemp(suffix=".json", prefix="mcln-scaling-")
    os.close(handle)
    command = [sys.executable, "-m", "bench.benchmark", "--synthetic", size_flag(size), "--json", path,
               "--roofline_size", "0"] + flags
    log("running: %s" % " ".join(command[1:]))
    try:
        completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True)
        if completed.returncode != 0:
            log(completed.stderr[-2000:])
            return {"error": "exit status %d" % completed.returncode}
        with open(path) as handle:
            return json.load(handle)
    finally:
        os.remove(path)


COLUMNS = [("axis", "%-12s"), ("users", "%7d"), ("items", "%7d"), ("train", "%8d"),
           ("image", "%5d"), ("steps/ep", "%8d"), ("step s", "%7.3f"), ("epoch s", "%8.1f"),
           ("eval s", "%7.1f"), ("adj s", "%6.2f"), ("peak MB", "%8.0f"), ("graph KB", "%8.0f"),
           ("other CPU", "%9.2f")]


def row(axis, r):
    if "error" in r:
        return "%-12s %s" % (axis, r["error"])
    values = [axis, r["n_users"], r["n_items"], r["n_train"], r["feature_dims"]["image"],
              r["steps_per_epoch"], r["step_seconds"], r["epoch_seconds"],
              r.get("eval_seconds", float("nan")), r["load_cold_adjacency_seconds"],
              r["peak_rss_mb"], r["graph_def_bytes"] / 1024.0,
              r["training_cpu"].get("other_cpu_share") or 0.0]
    return " ".join(fmt % value if not isinstance(value, float) or value == value else
                    "%*s" % (len(fmt % 0), "n/a") for (_, fmt), value in zip(COLUMNS, values))


def header():
    return " ".join("%*s" % (len(fmt % (0 if "d" in fmt or "f" in fmt else "")), name)
                    if not fmt.startswith("%-") else "%-12s" % name for name, fmt in COLUMNS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="3")
    parser.add_argument("--warmup", default="1")
    parser.add_argument("--eval_users", default="512")
    parser.add_argument("--json", default=None)
    parser.add_argument("--retries", type=int, default=2,
                        help="rerun a size whose steps shared the CPUs with other processes "
                             "(other CPU share > %.1f) up to this many times" % BUSY)
    args, flags = parser.parse_known_args(argv)
    flags += ["--steps", args.steps, "--warmup", args.warmup, "--eval_users", args.eval_users]
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    results, lines = [], [header()]
    done = {}
    for axis, size, repeated in sizes():
        key = size_flag(size)
        if key not in done:
            done[key] = run_one(size, flags, log)
            for _ in range(args.retries):
                if busy(done[key]) <= BUSY:
                    break
                log("other processes used %.2f of the CPUs; running this size again"
                    % busy(done[key]))
                again = run_one(size, flags, log)
                if busy(again) < busy(done[key]):
                    done[key] = again
        results.append({"axis": axis, "size": size, "result": done[key]})
        lines.append(row(axis, done[key]))
        print(lines[-1] if len(lines) > 2 else "\n".join(lines))
        sys.stdout.flush()
    print("shared 2-core machine: 'other CPU' is the share of the CPUs other processes used "
          "while the steps were timed; rerun rows where it is high")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
