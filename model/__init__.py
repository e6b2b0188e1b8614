"""The models this project trains; ``model_class(name)`` imports one (and TensorFlow) lazily,
so that reading the names stays free of TensorFlow's start-up."""
import importlib

# name -> (module, class); MCLN first: it is the default.
MODELS = {
    "mcln": ("model.MCLN", "MCLN"),
    "bprmf": ("model.bprmf", "BPRMF"),
    "lightgcn": ("model.lightgcn", "LightGCN"),
    "ngcf": ("model.ngcf", "NGCF"),
    "vbpr": ("model.vbpr", "VBPR"),
    "mmgcn": ("model.mmgcn", "MMGCN"),
}
MODEL_NAMES = tuple(MODELS)


def model_class(name):
    module, attribute = MODELS[name]
    return getattr(importlib.import_module(module), attribute)
