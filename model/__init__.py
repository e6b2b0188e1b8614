"""The models this project trains; ``model_class(name)`` imports one (and TensorFlow) lazily,
so that reading the names stays free of TensorFlow's start-up.

Shape letters, used in every docstring and shape comment of this package:

    U  users                     I  items                   N  graph nodes (U + I)
    B  rows of a training batch  G  attention groups        R  rows per group
    d  ID embedding size         c  counterfactual width (inputs x d)
    F  feature width of one modality                        E  non-zeros of the adjacency
    D  width of a model's user and item vectors (scores are their inner products)

Equation numbers (Eq. n) are those of the MCLN paper (Li et al., SIGIR 2023); docs/model.md
lists them with the function computing each.
"""
import importlib

# name -> (module, class); MCLN first: it is the default.
MODELS = {
    "mcln": ("model.MCLN", "MCLN"),
    "bprmf": ("model.bprmf", "BPRMF"),
    "svdpp": ("model.svdpp", "SVDPP"),
    "lightgcn": ("model.lightgcn", "LightGCN"),
    "ngcf": ("model.ngcf", "NGCF"),
    "vbpr": ("model.vbpr", "VBPR"),
    "mmgcn": ("model.mmgcn", "MMGCN"),
    "mgat": ("model.mgat", "MGAT"),
    "invrl": ("model.invrl", "InvRL"),
    "dmrl": ("model.dmrl", "DMRL"),
}
MODEL_NAMES = tuple(MODELS)


def model_class(name):
    module, attribute = MODELS[name]
    return getattr(importlib.import_module(module), attribute)
