"""The same sampled candidates for every configuration of an experiment.

Before training, the runner writes each split's 99 negatives per user once per seed into
``<out>/NAME/D/negatives/seed-S-<mode>-<split>.txt`` (mode: the --negatives mode, plus
``+valid`` under --valid; ``uid n1 ... n99`` lines: the draw a run of that seed would make
itself) and passes them to every run of that seed with --test_negatives (and
--valid_negatives under --valid). Each run records the files and their SHA-256 in
results.json (``negatives``), so that the per-user outcomes of two configurations are
paired on exactly the same candidates.
"""
import os

from experiments.main_flags import main_arguments
from utility.common.atomic import write_atomically
from utility.common.errors import InputError


def _write_or_check(path, text):
    """Write ``text`` to ``path`` unless it is there already; refuse a file that differs
    (runs recorded its SHA-256: replacing it would unpair them)."""
    if os.path.exists(path):
        with open(path) as f:
            if f.read() != text:
                raise InputError("%s holds other negatives than this call draws (the data or "
                                 "the settings changed); remove it with the runs that used "
                                 "it, or choose another --out" % path)
        return
    write_atomically(path, lambda handle: handle.write(text))


def shared_negatives(base_argv, seed, folder):
    """main.py flags naming the negatives files of ``seed`` (written into ``folder`` on
    first use); none under --eval_protocol full, which samples no negatives. A file the
    user gave (--test_negatives, --valid_negatives) is left as it is."""
    from utility.data.load import load_dataset, without_validation
    from utility.evaluation.evaluator import Evaluator, negatives_file, negatives_text
    args = main_arguments(list(base_argv) + ["--seed", str(seed)])
    if args.eval_protocol == "full":
        return []
    dataset = load_dataset(args.data_dir, [], log=lambda *_: None)
    if args.valid:
        dataset = without_validation(dataset)
    evaluator = Evaluator(args, dataset)  # draws exactly as a run of this seed would
    flags = []
    for split in evaluator.splits:
        if negatives_file(args, split.name):
            continue
        users, candidates = evaluator.candidates[split.name]
        os.makedirs(folder, exist_ok=True)
        mode = args.negatives + ("+valid" if args.valid else "")  # --valid changes the known items
        path = os.path.join(folder, "seed-%d-%s-%s.txt" % (seed, mode, split.name))
        _write_or_check(path, negatives_text(users, candidates[:, :-1]))
        flags += ["--%s_negatives" % split.name, path]
    return flags
