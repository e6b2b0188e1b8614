"""The experiments: which runs make up each of the paper's tables, and what the paper claims.

An experiment lists configurations (each one set of main.py flags, run once per seed) and
the claims of the paper that its numbers can test. Everything here is plain data: reading
it imports neither TensorFlow nor the models.
"""
import collections
import importlib.util
import itertools

from experiments import grid, paper, spurious
from model import MODEL_NAMES, MODELS
from model.variants import TABLE3, TABLE4, VARIANTS, available
from utility.common.errors import InputError

# name: directory name; label: how tables show it; flags: main.py flags as ((flag, value),
# ...); paper_row: the row of the experiment's paper table; x: the swept value of a sweep.
Config = collections.namedtuple("Config", "name label flags paper_row x")
# The configurations in ``better`` beat those in ``worse`` (kind "greater": the best of
# ``better`` against the best of ``worse``), or two configurations agree (kind "equal").
Claim = collections.namedtuple("Claim", "text better worse kind")
# kind: "table" (bars) or "sweep" (lines over Config.x); sets: the main.py flags the
# experiment chooses itself (so they cannot also be given on the command line).
Experiment = collections.namedtuple("Experiment", "name title kind sets paper_table build "
                                                 "report")
# report(out_dir, configs, data_path): the experiment's own figure and lines after the
# summary, returning a line for the log; most experiments have none.
Experiment.__new__.__defaults__ = (None,)


def implemented_models():
    """The models of ``model.MODEL_NAMES`` whose module exists (found without importing it)."""
    return [name for name in MODEL_NAMES
            if importlib.util.find_spec(MODELS[name][0]) is not None]


def _table2(dataset, modalities):
    configs = [Config(name, paper.MODEL_LABELS.get(name, name), (("--model", name),), name,
                      None) for name in implemented_models()]
    others = [c.name for c in configs if c.name != "mcln"]
    claims = [Claim("MCLN > %s" % paper.MODEL_LABELS.get(name, name), ("mcln",), (name,),
                    "greater") for name in others]
    return configs, claims


def _variant_configs(names):
    return [Config(name, VARIANTS[name].paper_row,
                   (("--model", "mcln"), ("--variant", name)), name, None) for name in names]


# Table 3's reading in the paper: each component adds to the one before.
_TABLE3_CLAIMS = [("V > Base", "v", "base"), ("V&CL > V", "v_cl", "v"),
                  ("V&ID&CL > V&CL", "v_id_cl", "v_cl"), ("T > Base", "t", "base"),
                  ("T&CL > T", "t_cl", "t"), ("T&ID&CL > T&CL", "t_id_cl", "t_cl"),
                  ("V&T > V", "vt", "v"), ("V&T > T", "vt", "t"),
                  ("V&T&CL > V&T", "vt_cl", "vt"), ("MCLN > V&T&CL", "full", "vt_cl"),
                  ("MCLN > V&CL", "full", "v_cl"), ("MCLN > T&CL", "full", "t_cl"),
                  ("MCLN > Base", "full", "base")]
_TABLE4_CLAIMS = [("MCLN > w/o intra-modality", "full", "no_intra"),
                  ("MCLN > w/o inter-modality", "full", "no_inter")]


def _pairwise(pairs, names):
    return [Claim(text, (better,), (worse,), "greater") for text, better, worse in pairs
            if better in names and worse in names]


def _table3(dataset, modalities):
    names = available(TABLE3, modalities)
    return _variant_configs(names), _pairwise(_TABLE3_CLAIMS, names)


def _table4(dataset, modalities):
    names = available(TABLE4, modalities)
    return _variant_configs(names), _pairwise(_TABLE4_CLAIMS, names)


def _sweep(flag, values, best, best_anywhere):
    """Configurations ``<flag>-<v>`` and the claim that the paper's best value wins."""
    stem = flag.lstrip("-")
    configs = [Config("%s-%d" % (stem, v), "%s=%d" % (stem, v), ((flag, v),), v, v)
               for v in values]
    winners = (best,) if best is not None else best_anywhere
    where = "the paper's best on this dataset" if best is not None else \
        "the paper's best on its datasets"
    text = "%s=%s best (%s)" % (stem, " or ".join(map(str, winners)), where)
    name = dict((c.x, c.name) for c in configs)
    claim = Claim(text, tuple(name[v] for v in winners),
                  tuple(c.name for c in configs if c.x not in winners), "greater")
    return configs, [claim]


def _table5(dataset, modalities):
    return _sweep("--n_mca", range(1, 6), paper.best_row("table5", dataset)
                  if paper.paper_dataset(dataset) else None,
                  paper.TABLE5_BEST_ANYWHERE)


def _gcn_layers(dataset, modalities):
    return _sweep("--n_layers", range(1, 7),
                  paper.FIGURE4_BEST.get(paper.paper_dataset(dataset)),
                  paper.FIGURE4_BEST_ANYWHERE)


def _formulation(dataset, modalities):
    configs = [Config(name, name, (("--formulation", name),), "mcln", None)
               for name in ("release", "paper")]
    return configs, [Claim("paper formulation = release (both are MCLN)", ("paper",),
                           ("release",), "equal")]


def _spurious(dataset, modalities):
    """Every model of experiments/spurious.py on every rho's dataset (each configuration
    names its own), and the claims that V&CL and MCLN beat V, and MCLN beats InvRL,
    wherever rho > 0."""
    if dataset.lower() != spurious.FAMILY:
        raise InputError("the spurious experiment makes its own datasets, one per rho; run "
                         "it with --dataset %s, not %s" % (spurious.FAMILY, dataset))
    configs = [Config(spurious.config_name(name, rho), "%s, rho=%g" % (label, rho),
                      (("--dataset", spurious.dataset_name(rho)),) + flags, None, rho)
               for rho in spurious.RHOS for name, label, flags in spurious.MODELS]
    labels = spurious.labels()
    claims = [Claim("%s > V at rho=%g" % (labels[better], rho),
                    (spurious.config_name(better, rho),), (spurious.config_name("v", rho),),
                    "greater")
              for rho in spurious.RHOS if rho > 0 for better in spurious.COUNTERFACTUAL]
    rival = spurious.INVARIANT_RIVAL
    claims += [Claim("MCLN > %s at rho=%g" % (labels[rival], rho),
                     (spurious.config_name("full", rho),), (spurious.config_name(rival, rho),),
                     "greater") for rho in spurious.RHOS if rho > 0]
    return configs, claims


def _control(dataset, modalities):
    """MCLN and VBPR on the dataset's features and on random ones of the same shapes and row
    norms (--random_features): if real content does not win, the branches do not use it.
    Table 3's one-modality rows (Base w/ V, Base w/ T) too, so that a modality's gain over
    Base can be told apart from the parameters its branch adds."""
    pairs = [(model, label, (("--model", model),)) for model, label in
             (("mcln", "MCLN"), ("vbpr", "VBPR"))]
    pairs += [(name, VARIANTS[name].paper_row, (("--model", "mcln"), ("--variant", name)))
              for name in available(("v", "t"), modalities)]
    configs, claims = [], []
    for name, label, flags in pairs:
        configs.append(Config(name, label, flags, None, None))
        configs.append(Config(name + "-random", label + " on random features",
                              flags + (("--random_features", 0),), None, None))
        claims.append(Claim("%s: real features > random" % label, (name,),
                            (name + "-random",), "greater"))
    return configs, claims


def _grid(axes):
    """One configuration per combination of the values of ``axes`` ([(flag, [values])])."""
    def build(dataset, modalities):
        cells = itertools.product(*[[(flag, value) for value in values]
                                    for flag, values in axes])
        return [Config(grid.cell_name(cell), grid.cell_label(cell), cell, None, None)
                for cell in cells], []
    return build


def _grid_without_axes(dataset, modalities):
    raise InputError("the grid experiment needs --grid FLAG=V1,V2")


EXPERIMENTS = collections.OrderedDict((e.name, e) for e in [
    Experiment("table2", "Table 2: overall comparison", "table", ("--model",), "table2",
               _table2),
    Experiment("table3", "Table 3: ablation of components", "table",
               ("--model", "--variant"), "table3", _table3),
    Experiment("table4", "Table 4: multimodal fusion", "table", ("--model", "--variant"),
               "table4", _table4),
    Experiment("table5", "Table 5: counterfactual learning layers", "sweep", ("--n_mca",),
               "table5", _table5),
    Experiment("gcn_layers", "Figure 4: GCN layers", "sweep", ("--n_layers",), None,
               _gcn_layers),
    Experiment("formulation", "Formulation: the release's code vs the paper's equations",
               "table", ("--formulation",), "table2", _formulation),
    Experiment("control", "Control: real features against random ones of the same shapes",
               "table", ("--model", "--variant", "--random_features"), None, _control),
    Experiment("spurious", "Planted spurious correlation: test HR@10 as rho grows", "table",
               ("--dataset", "--model", "--variant"), None, _spurious,
               spurious.write_report),
    # Its flags and configurations come from --grid (plan's ``axes``).
    Experiment("grid", grid.TITLE, "table", (), None, _grid_without_axes, grid.write_report),
])


def plan(name, dataset, modalities, axes=()):
    """(experiment, configs, claims) of experiment ``name`` on ``dataset``; the grid
    experiment's from ``axes`` ([(flag, [values])], experiments/grid.py)."""
    experiment = EXPERIMENTS[name]
    if axes:
        experiment = experiment._replace(sets=tuple(flag for flag, _ in axes),
                                         build=_grid(axes))
    configs, claims = experiment.build(dataset, list(modalities))
    return experiment, configs, claims
