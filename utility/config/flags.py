"""Command-line flags, each declared once, and the per-dataset presets.

Every flag is one ``Option``: its argparse arguments and its role. A *checked* option is a
hyperparameter: recorded in results.json and in checkpoints, and a resumed run must keep its
value. A *resumable* option is recorded too but ``--resume`` may change it. A *runtime*
option (threads, paths of extra files, ...) changes how a run executes, not what it computes.

Options whose argparse default is ``None`` and that a preset names take the preset's value:
``COMMON`` for every dataset, then ``PRESETS[dataset]``, then ``MODEL_PRESETS[model]`` (and
``MODEL_PRESETS[(model, dataset)]``); a flag given on the command line wins over all of them.
Unknown dataset names are custom datasets living in ``<data_path>/<name>``.

This module does not import TensorFlow: ``--help`` and flag errors answer at once.
"""
import argparse
import collections
import os

from model import MODEL_NAMES
from model.variants import VARIANTS, resolve, same_model

CHECKED, RESUMABLE, RUNTIME = "checked", "resumable", "runtime"
Option = collections.namedtuple("Option", "name role kwargs")


def _option(name, role, **kwargs):
    return Option(name, role, kwargs)


EVAL_NEGATIVES = 99
MODALITIES = ("image", "text")  # in the order models concatenate and name them
NEGATIVES_MODES = ("release", "clean")
PROTOCOLS = ("sampled", "full", "both")
FULL_METRICS = ("recall", "ndcg", "precision", "hit")

OPTIONS = (
    _option("dataset", CHECKED, default="demo",
            help="preset name (art, amazon, beauty, taobao, demo, beauty14, ml100k) or a "
                 "custom folder name under --data_path"),
    _option("model", CHECKED, default="mcln", choices=MODEL_NAMES,
            help="the model to train (default mcln; the others are the paper's baselines)"),
    _option("variant", CHECKED, default="full", choices=tuple(VARIANTS),
            help="MCLN ablation variant (the paper's Tables 3 and 4; default full = the "
                 "release's model)"),
    _option("formulation", CHECKED, default="release", choices=("release", "paper"),
            help="MCLN as the authors' code computes it (default) or as the paper's "
                 "equations state it"),
    _option("data_path", RESUMABLE, default="Data",
            help="folder that holds one sub-folder per dataset"),
    _option("out_dir", RESUMABLE, default=None,
            help="where results.json and checkpoints go (default runs/<dataset>, or "
                 "runs/<dataset>-<model> for other models than mcln)"),
    _option("epochs", RESUMABLE, type=int, help="training epochs (0: only evaluate)"),
    _option("batch_size", CHECKED, type=int,
            help="users per training step; also the emb_loss divisor"),
    _option("lr", CHECKED, type=float, help="Adam learning rate"),
    _option("embed_size", CHECKED, type=int, help="ID embedding size d"),
    _option("n_layers", CHECKED, type=int, help="graph propagation layers"),
    _option("decay", CHECKED, type=float, help="weight of the embedding L2 term"),
    _option("feature_decay", CHECKED, type=float,
            help="VBPR: weight of the L2 term on the feature projection E and the feature "
                 "bias beta' (the VBPR paper's lambda_E; preset 1e-2; 0: off); InvRL: on its "
                 "feature projection W"),
    _option("n_envs", CHECKED, type=int,
            help="InvRL: environments each training batch is split into"),
    _option("irm_weight", CHECKED, type=float,
            help="InvRL: weight of the IRMv1 invariance penalty (the public code's alpha)"),
    _option("mask_decay", CHECKED, type=float,
            help="InvRL: weight of sum(mu^2) on the feature mask's parameters (its lambda)"),
    _option("n_factors", CHECKED, type=int,
            help="DMRL: factors each representation splits into (divides --embed_size)"),
    _option("dcor_weight", CHECKED, type=float,
            help="DMRL: weight of the distance-correlation disentanglement term"),
    _option("lambda_m", CHECKED, type=float,
            help="MCLN: weight of the image branch in the ranking score"),
    _option("n_mca", CHECKED, type=int, help="MCLN: number of counterfactual learning layers"),
    _option("adj_b", CHECKED, type=float,
            help="MCLN: column exponent b of L = D^-0.5 (A+I) D^-b"),
    _option("modalities", CHECKED,
            help="item features to use: 'image,text', 'image' or 'text' (order free; "
                 "recorded as image,text)"),
    _option("eval_interval", CHECKED, type=int,
            help="evaluate every N epochs (and after the last)"),
    _option("seed", CHECKED, type=int,
            help="seed of the graph initialisers, the train sampler and the evaluation negatives"),
    _option("Ks", CHECKED, help="cut-offs of HR@K and NDCG@K, comma separated"),
    _option("eval_protocol", CHECKED, choices=PROTOCOLS, default="sampled",
            help="sampled: 99 negatives + the held-out item (the release's); full: rank every "
                 "item the user did not train on; both"),
    _option("negatives", CHECKED, choices=NEGATIVES_MODES, default=None,
            help="sampled negatives: 'release' may draw the held-out item itself, as the "
                 "release does; 'clean' never does (default: release, clean with --valid)"),
    _option("valid", CHECKED, action="store_true",
            help="hold each user's validation.txt item out of training, select the epoch on "
                 "validation and report the test metrics of that epoch"),
    _option("select_metric", CHECKED, default=None,
            help="metric that picks the best epoch, e.g. hit@10 (default), ndcg@20, "
                 "full_recall@20; on validation with --valid, else on test (the release's)"),
    _option("patience", RESUMABLE, type=int, default=0,
            help="with --valid: stop after N evaluations without a better validation metric "
                 "(0: never)"),
    _option("message_dropout", CHECKED, type=float, default=0.0,
            help="NGCF: dropout rate of the messages of each layer (0: off)"),
    _option("node_dropout", CHECKED, type=float, default=0.0,
            help="NGCF: dropout rate of the adjacency's entries (0: off)"),
    _option("eval_users_per_call", RUNTIME, type=int, default=64,
            help="test users scored per session call (attention stays within each user)"),
    _option("test_negatives", RUNTIME, default=None,
            help="file of 'uid n1 ... n99' lines to use as the evaluation negatives"),
    _option("valid_negatives", RUNTIME, default=None,
            help="with --valid: file of 'uid n1 ... n99' lines to use as the validation "
                 "negatives"),
    _option("save_test_negatives", RUNTIME, default=None,
            help="write the evaluation negatives used to this file"),
    _option("init_checkpoint", RUNTIME, default=None,
            help="restore model variables by name from this TF checkpoint before training"),
    _option("resume", RUNTIME, action="store_true",
            help="continue from <out_dir>/checkpoints up to --epochs (same seed and settings)"),
    _option("no_checkpoints", RUNTIME, action="store_true",
            help="do not write <out_dir>/checkpoints (last and best model, optimizer, RNG state)"),
    _option("gradients", RUNTIME, choices=("hand", "auto"), default="hand",
            help="MCLN: hand-written gradients of the attention mix and the propagation "
                 "(default, faster) or TensorFlow's automatic ones (same values)"),
    _option("threads", RUNTIME, type=int, default=0,
            help="TF intra- and inter-op threads (0: all cores)"),
    _option("xla", RUNTIME, action="store_true", help="let XLA compile (auto-cluster) the graph"),
    _option("random_features", CHECKED, type=int, default=None,
            help="control run: replace every feature matrix by a seeded random matrix of the "
                 "same shape and row norms (the value is its seed); real content should "
                 "beat it"),
    _option("tf_log", RUNTIME, action="store_true",
            help="show TensorFlow's own start-up log lines (hidden by default)"),
)

# Hyperparameters shared by every released configuration.
COMMON = dict(embed_size=64, lr=0.001, batch_size=2048, seed=2023, Ks="5,10,20",
              modalities="image,text", n_layers=4, decay=1e-2, lambda_m=0.3, n_mca=2,
              adj_b=0.4, epochs=1000, eval_interval=20)

# The release's settings per dataset (reference section 8), plus the built-in demo.
PRESETS = {
    "art": dict(folder="Art", n_layers=5, decay=1e-2, lambda_m=1.0, n_mca=2, adj_b=0.4,
                modalities="image,text", epochs=1000, eval_interval=20),
    "amazon": dict(folder="amazon-beauty", n_layers=4, decay=1e-2, lambda_m=0.3, n_mca=2,
                   adj_b=0.4, modalities="image,text", epochs=1000, eval_interval=20),
    "taobao": dict(folder="Taobao", n_layers=5, decay=1e-3, lambda_m=0.2, n_mca=4,
                   adj_b=0.3, modalities="image", epochs=500, eval_interval=5),
    # Small enough to train in minutes on a laptop CPU; see utility/data/demo.py.
    "demo": dict(folder="demo", n_layers=2, decay=1e-3, lambda_m=0.5, n_mca=1, adj_b=0.4,
                 modalities="image,text", epochs=12, eval_interval=4, batch_size=512,
                 lr=0.005),
}
PRESETS["beauty"] = PRESETS["amazon"]
# Datasets with real titles and posters (utility/data/content/,
# docs/datasets-real-content.md). The sampler draws DISTINCT users per batch, so ml100k's 943
# users cannot fill the release's 2,048: 512 takes about half of them per step (194 steps an
# epoch). beauty14 (22,363 users) keeps 2,048 and Amazon's model settings (same category);
# it evaluates every 5 epochs so that --patience 3 stops a run 15 epochs after its peak,
# not 30: on one core an MCLN epoch there takes about a minute, as does an evaluation. Both
# cap a run at 200 epochs (about 3.6 hours of one core for MCLN on beauty14), so that a
# slow cell of a validation grid (lr 1e-4) cannot take a day.
PRESETS["beauty14"] = dict(PRESETS["amazon"], folder="beauty14", modalities="text",
                           epochs=200, eval_interval=5)
PRESETS["ml100k"] = dict(folder="ml100k", modalities="image,text", batch_size=512,
                         epochs=200, eval_interval=5)
# The planted spurious-correlation benchmark (utility/data/spurious.py): one dataset per style
# weight rho, named spurious-rho-<rho>; "spurious" alone is the one without the shift. Settings
# that let every model peak within the epochs in one to three minutes of one core.
SPURIOUS_PREFIX = "spurious-rho-"
SPURIOUS = dict(n_layers=2, decay=1e-3, lambda_m=0.5, n_mca=1, adj_b=0.4, modalities="image",
                epochs=40, eval_interval=2, batch_size=512, lr=0.005)
PRESETS["spurious"] = dict(SPURIOUS, folder=SPURIOUS_PREFIX + "0")

# Per model (all datasets) and per (model, dataset): the baselines' settings, documented in
# the README's model sections. MCLN's are the dataset presets (the release's), except on
# ml100k, which the release never ran.
MODEL_PRESETS = {
    # docs/baselines-multimodal.md: L2 weights chosen by validation on Taobao (VBPR's ID
    # decay is BPRMF's); MMGCN's layer count is its public script's.
    "vbpr": dict(decay=1e-1, feature_decay=1e-2),
    "mmgcn": dict(decay=1e-2, n_layers=2),
    # MGAT: MMGCN's decay, one layer as its public code runs (docs/baselines-multimodal.md).
    "mgat": dict(decay=1e-2, n_layers=1),
    # docs/baselines.md: chosen by a validation grid on Taobao (lr 1e-3 is COMMON's; LightGCN
    # keeps the dataset's n_layers, Taobao's 5 won there).
    "bprmf": dict(decay=1e-1),
    # SVD++: BPRMF's decay for the same ID factors; validation on Taobao preferred it to 1e-2
    # (docs/baselines.md).
    "svdpp": dict(decay=1e-1),
    "lightgcn": dict(decay=1e-2),
    "ngcf": dict(decay=1e-1, n_layers=1),
    # docs/baselines-multimodal.md: the public code's settings, its weights on a loss summed
    # over the batch (InvRL 512 rows, DMRL 1,024) divided by that batch for ours, a mean
    # (InvRL: projection L2 0.1 and lambda 0.1, alpha 1.0 as it is, 10 environments; DMRL:
    # decay_r 1e-2, decay_c 1.0, K = 4); InvRL's ID decay chosen by validation on Taobao.
    "invrl": dict(decay=1e-1, feature_decay=4e-4, n_envs=10, irm_weight=1.0, mask_decay=2e-4),
    "dmrl": dict(decay=2e-5, n_factors=4, dcor_weight=1e-3),
    # DMRL's decay and lr chosen by validation on Taobao (`experiments.run grid`): at the
    # public settings it barely learns in Taobao's 29 steps an epoch. Taobao's only: on the
    # small demo that decay holds it near random for its few epochs.
    ("dmrl", "taobao"): dict(decay=1e-1, lr=1e-2),
    # MCLN's lr and L2 on ml100k chosen by validation (`experiments.run grid`, one seed, then
    # its three best cells over three seeds: mean validation HR@10 0.661 against 0.658 for
    # L2 1e-3 and 0.649 for lr 1e-2; docs/datasets-real-content.md); every variant shares
    # them, the baselines keep theirs.
    ("mcln", "ml100k"): dict(lr=1e-3, decay=1e-4),
    # The baselines' on ml100k, chosen the same way (results/grid-<model>/ml100k); MMGCN's
    # grid chose its Taobao settings, and a baseline without a grid there runs those too.
    ("lightgcn", "ml100k"): dict(lr=1e-2, decay=1e-4),
    # L2 1e-4 and 1e-3 tie on validation HR@10; 1e-3 leads on NDCG@10.
    ("bprmf", "ml100k"): dict(decay=1e-3),
    # The same tie (validation NDCG@10 0.3895 against 0.3889); NGCF keeps its one layer.
    ("ngcf", "ml100k"): dict(decay=1e-3),
    # VBPR's ID L2 (its feature L2 stays 1e-2).
    ("vbpr", "ml100k"): dict(decay=1e-2),
}


def build_parser(dataset="demo", model="mcln"):
    """The flags' parser; its --help shows the preset values of ``dataset`` and ``model``
    as the defaults of the options they fill."""
    presets = preset_values(dataset, model)
    owner = dataset if model == "mcln" else "%s, %s" % (dataset, model)
    parser = argparse.ArgumentParser(
        description="Train and evaluate MCLN (SIGIR 2023) or a baseline on a leave-one-out "
                    "dataset.",
        epilog="Defaults marked 'preset' are those of --dataset %s%s; give --dataset NAME (and "
               "--model) with --help for another's, or see the README's preset table."
               % (dataset, "" if model == "mcln" else " --model " + model))
    for option in OPTIONS:
        kwargs = dict(option.kwargs)
        if kwargs.get("default") is None and presets.get(option.name) is not None:
            kwargs["help"] = "%s (preset for %s: %s)" % (
                kwargs.get("help", ""), owner, str(presets[option.name]).replace("%", "%%"))
        parser.add_argument("--" + option.name, **kwargs)
    return parser


def chosen_dataset_and_model(argv):
    """--dataset and --model as ``argv`` gives them (defaults otherwise), read before the
    full parse so that --help can show that preset."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--dataset", default="demo")
    early.add_argument("--model", default="mcln")
    known, _ = early.parse_known_args(argv)
    return known.dataset, known.model


def dataset_preset(dataset):
    """The preset of the dataset named ``dataset`` (every spurious-rho-<rho>), or None."""
    name = dataset.lower()
    if name.startswith(SPURIOUS_PREFIX):
        return dict(SPURIOUS, folder=name)
    return PRESETS.get(name)


def preset_values(dataset, model):
    """The preset value of every preset-filled option for ``dataset`` and ``model``."""
    values = dict(COMMON)
    values.update(dataset_preset(dataset) or dict(folder=dataset))
    values.update(MODEL_PRESETS.get(model, {}))
    values.update(MODEL_PRESETS.get((model, dataset.lower()), {}))
    return values


def parse_args(argv=None):
    """Parse flags and fill unset hyperparameters from the presets."""
    parser = build_parser(*chosen_dataset_and_model(argv))
    args = parser.parse_args(argv)
    name = args.dataset.lower()
    for key, value in preset_values(args.dataset, args.model).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.data_dir = os.path.join(args.data_path, args.folder)
    if args.out_dir is None:
        args.out_dir = os.path.join("runs", name if args.model == "mcln"
                                    else "%s-%s" % (name, args.model))
    names = modality_list(args.modalities)
    if names is None:
        parser.error("--modalities must be 'image,text', 'image' or 'text', got %r"
                     % args.modalities)
    args.modalities, args.modality_list = ",".join(names), names
    if args.model == "mcln":
        try:
            resolve(args.variant, names)
        except ValueError as error:
            parser.error(str(error))
    elif args.variant != "full" or args.formulation != "release":
        parser.error("--variant and --formulation are MCLN's; --model %s has neither"
                     % args.model)
    if args.model == "dmrl" and (args.n_factors < 1 or args.embed_size % args.n_factors):
        parser.error("--model dmrl splits --embed_size %d into --n_factors %d equal factors: "
                     "give a divisor of it" % (args.embed_size, args.n_factors))
    try:
        args.Ks = [int(k) for k in str(args.Ks).split(",")]
    except ValueError:
        parser.error("--Ks must be comma-separated integers, got %r" % args.Ks)
    if min(args.Ks) < 1:
        parser.error("--Ks must be positive, got %r" % args.Ks)
    if args.patience < 0 or (args.patience and not args.valid):
        parser.error("--patience needs --valid and N >= 0 (stopping on test metrics would "
                     "tune on the test set)")
    if args.valid_negatives and not args.valid:
        parser.error("--valid_negatives needs --valid (there is no validation split without it)")
    for rate in ("message_dropout", "node_dropout"):
        if not 0.0 <= getattr(args, rate) < 1.0:
            parser.error("--%s must be in [0, 1), got %r" % (rate, getattr(args, rate)))
    args.negatives = negatives_mode(args)
    args.select_metric = selection_metric(parser, args)
    return args


def modality_list(text):
    """The modalities ``text`` names ('image', 'text' or both, comma separated, in either
    order) in the one order models read them, image first (so that 'text,image' builds and
    records the same run as 'image,text'); None when it names anything else or a repeat."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names or len(set(names)) != len(names) or not set(names) <= set(MODALITIES):
        return None
    return [name for name in MODALITIES if name in names]


def negatives_mode(args):
    """--negatives, or its default: ``clean`` with --valid, ``release`` (faithful) without."""
    mode = getattr(args, "negatives", None)
    if mode is None:
        return "clean" if args.valid else "release"
    return mode


SAMPLED_METRICS = ("hit", "ndcg")  # the sampled protocol's, at each K


def ordered_names(Ks):
    """The sampled protocol's metric names in print order: every HR@K, then every NDCG@K."""
    return ["%s@%d" % (name, k) for name in SAMPLED_METRICS for k in Ks]


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


def recorded_options():
    """Names of the options results.json and checkpoints record (checked and resumable)."""
    return [option.name for option in OPTIONS if option.role != RUNTIME]


def resumable_options():
    """What a resumed run may change: the rest must equal the checkpoint's."""
    return [option.name for option in OPTIONS if option.role == RESUMABLE]


def hyperparameters(args):
    """The run's recorded settings, for results.json and checkpoints."""
    return {name: getattr(args, name) for name in recorded_options()}


def changed_settings(recorded, current, free=()):
    """Names of the settings, other than ``free``, in which ``current`` differs from the
    ``recorded`` ones of a run. A setting the record lacks comes from a flag added after the
    run was written: the run computed what that flag's default computes. Two variant names
    that build the same model on the run's modalities (same_model) are not a change."""
    defaults = {option.name: option.kwargs.get("default") for option in OPTIONS}
    was = {key: recorded.get(key, defaults.get(key)) for key in set(recorded) | set(current)}
    changed = sorted(key for key in was if key not in free and was[key] != current.get(key))
    if "variant" in changed and same_model(was["variant"], current.get("variant"),
                                           modality_list(current.get("modalities")) or []):
        changed.remove("variant")
    return changed
