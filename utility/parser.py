"""Command-line flags and the per-dataset presets of the authors' release.

A preset fills every hyperparameter the release hard-codes for a dataset; any flag given on
the command line overrides the preset value. Unknown dataset names are treated as custom
datasets living in ``<data_path>/<name>`` with the generic defaults below.
"""
import argparse
import os

from utility.metrics import ordered_names

# Hyperparameters shared by every released configuration.
COMMON = dict(embed_size=64, lr=0.001, batch_size=2048, seed=2023, Ks="5,10,20",
              modalities="image,text", n_layers=4, decay=1e-2, lambda_m=0.3, n_mca=2,
              adj_b=0.4, epochs=1000, eval_interval=20)

# Section 8 of the reference: the release's settings per dataset, plus the built-in demo.
PRESETS = {
    "art": dict(folder="Art", n_layers=5, decay=1e-2, lambda_m=1.0, n_mca=2, adj_b=0.4,
                modalities="image,text", epochs=1000, eval_interval=20),
    "amazon": dict(folder="amazon-beauty", n_layers=4, decay=1e-2, lambda_m=0.3, n_mca=2,
                   adj_b=0.4, modalities="image,text", epochs=1000, eval_interval=20),
    "taobao": dict(folder="Taobao", n_layers=5, decay=1e-3, lambda_m=0.2, n_mca=4,
                   adj_b=0.3, modalities="image", epochs=500, eval_interval=5),
    # Small enough to train in minutes on a laptop CPU; see utility/make_demo.py.
    "demo": dict(folder="demo", n_layers=2, decay=1e-3, lambda_m=0.5, n_mca=1, adj_b=0.4,
                 modalities="image,text", epochs=12, eval_interval=4, batch_size=512,
                 lr=0.005),
}
PRESETS["beauty"] = PRESETS["amazon"]

EVAL_NEGATIVES = 99
PROTOCOLS = ("sampled", "full", "both")
FULL_METRICS = ("recall", "ndcg", "precision", "hit")


def build_parser():
    parser = argparse.ArgumentParser(
        description="Train and evaluate MCLN (SIGIR 2023) on a leave-one-out dataset.")
    add = parser.add_argument
    add("--dataset", default="demo",
        help="preset name (%s) or a custom folder name under --data_path"
             % ", ".join(sorted(PRESETS)))
    add("--data_path", default="Data", help="folder that holds one sub-folder per dataset")
    add("--out_dir", default=None, help="where results.json goes (default runs/<dataset>)")
    add("--epochs", type=int, help="training epochs (0: only evaluate)")
    add("--batch_size", type=int, help="users per training step; also the emb_loss divisor")
    add("--lr", type=float, help="Adam learning rate")
    add("--embed_size", type=int, help="ID embedding size d")
    add("--n_layers", type=int, help="graph propagation layers")
    add("--decay", type=float, help="weight of the embedding L2 term")
    add("--lambda_m", type=float, help="weight of the image branch in the ranking score")
    add("--n_mca", type=int, help="number of counterfactual learning layers")
    add("--adj_b", type=float, help="column exponent b of L = D^-0.5 (A+I) D^-b")
    add("--modalities", help="'image,text' or 'image'")
    add("--eval_interval", type=int, help="evaluate every N epochs (and after the last)")
    add("--seed", type=int, help="seed of the graph initialisers and both samplers")
    add("--Ks", help="cut-offs of HR@K and NDCG@K, comma separated")
    # 64 users = 6,400 rows, whose feed-forward activations (20 MB) stay in a 32 MB L3
    # cache: on Beauty 128 ran 5 % (TF 2.21) and 15 % (TF 1.15) slower, 32 no faster.
    add("--eval_users_per_call", type=int, default=64,
        help="test users scored per session call (attention stays within each user)")
    add("--test_negatives", default=None,
        help="file of 'uid n1 ... n99' lines to use as the evaluation negatives")
    add("--save_test_negatives", default=None,
        help="write the evaluation negatives used to this file")
    add("--init_checkpoint", default=None,
        help="restore model variables by name from this TF checkpoint before training")
    add("--eval_protocol", choices=PROTOCOLS, default="sampled",
        help="sampled: 99 negatives + the held-out item (the release's); full: rank every "
             "item the user did not train on; both")
    add("--valid", action="store_true",
        help="hold each user's validation.txt item out of training, select the epoch on "
             "validation and report the test metrics of that epoch")
    add("--select_metric", default=None,
        help="metric that picks the best epoch, e.g. hit@10 (default), ndcg@20, "
             "full_recall@20; on validation with --valid, else on test (the release's)")
    add("--patience", type=int, default=0,
        help="with --valid: stop after N evaluations without a better validation metric "
             "(0: never)")
    add("--resume", action="store_true",
        help="continue from <out_dir>/checkpoints up to --epochs (same seed and settings)")
    add("--no_checkpoints", action="store_true",
        help="do not write <out_dir>/checkpoints (last and best model, optimizer, RNG state)")
    add("--threads", type=int, default=0,
        help="TF intra- and inter-op threads (0: all cores)")
    add("--xla", action="store_true", help="let XLA compile (auto-cluster) the graph")
    return parser


def parse_args(argv=None):
    """Parse flags and fill unset hyperparameters from the dataset's preset."""
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = dict(COMMON)
    name = args.dataset.lower()
    preset.update(PRESETS.get(name, dict(folder=args.dataset)))
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.data_dir = os.path.join(args.data_path, args.folder)
    if args.out_dir is None:
        args.out_dir = os.path.join("runs", name)
    names = [part.strip() for part in args.modalities.split(",") if part.strip()]
    if names not in (["image"], ["image", "text"]):
        parser.error("--modalities must be 'image' or 'image,text', got %r" % args.modalities)
    args.modality_list = names
    try:
        args.Ks = [int(k) for k in str(args.Ks).split(",")]
    except ValueError:
        parser.error("--Ks must be comma-separated integers, got %r" % args.Ks)
    if min(args.Ks) < 1:
        parser.error("--Ks must be positive, got %r" % args.Ks)
    if args.patience < 0 or (args.patience and not args.valid):
        parser.error("--patience needs --valid and N >= 0 (stopping on test metrics would "
                     "tune on the test set)")
    args.select_metric = selection_metric(parser, args)
    return args


def metric_names(protocol, Ks):
    """Names of the test metrics one evaluation records, in print order (validation's are
    the same with a ``valid_`` prefix)."""
    names = ordered_names(Ks) if protocol != "full" else []
    if protocol != "sampled":
        names += ["full_%s@%d" % (name, k) for name in FULL_METRICS for k in Ks]
    return names


def selection_metric(parser, args):
    """The history key that picks the best epoch: a test metric, or ``valid_`` + it."""
    available = metric_names(args.eval_protocol, args.Ks)
    if args.select_metric is None:
        name = "hit@%d" % (10 if 10 in args.Ks else args.Ks[0])
    else:
        name = args.select_metric.lower()
        if name.startswith("valid_"):
            name = name[len("valid_"):]
    if args.eval_protocol == "full" and not name.startswith("full_"):
        name = "full_" + name  # with only the full protocol, "ndcg@20" can only mean that
    if name not in available:
        parser.error("--select_metric %s is not measured by --eval_protocol %s --Ks %s; "
                     "choose one of %s" % (args.select_metric, args.eval_protocol,
                                           ",".join(map(str, args.Ks)), ", ".join(available)))
    return ("valid_" if args.valid else "") + name


HYPERPARAMETERS = ("dataset", "epochs", "batch_size", "lr", "embed_size", "n_layers", "decay",
                   "lambda_m", "n_mca", "adj_b", "modalities", "eval_interval", "seed", "Ks",
                   "eval_protocol", "valid", "select_metric", "patience", "data_path", "out_dir")
# What a resumed run may change: the rest must equal the checkpoint's (see checkpoint.py).
RESUMABLE_CHANGES = ("epochs", "patience", "data_path", "out_dir")


def hyperparameters(args):
    """The run's full hyperparameter set, for results.json."""
    return {key: getattr(args, key) for key in HYPERPARAMETERS}
