"""MCLN's ablation variants (the paper's Tables 3 and 4) as two plain switches.

``score_terms``: which intra-modality terms (image, text) enter the score and the loss beside
the graph term. ``cl_inputs``: which item representations (id = the propagated ID embedding,
image, text) are concatenated into the counterfactual layers' input; empty means no
counterfactual layers at all. ``full`` and the Table 4 rows take whatever modalities the
dataset has (image only on Taobao); the other rows name their modalities explicitly.
"""
import collections

Variant = collections.namedtuple("Variant", "name paper_row score_terms cl_inputs")

ALL = "all"  # stands for every modality the dataset has

VARIANTS = collections.OrderedDict((v.name, v) for v in [
    Variant("base", "(1) Base", (), ()),
    Variant("v", "(2) Base w/ V", ("image",), ()),
    Variant("v_cl", "(3) Base w/ V&CL", ("image",), ("image",)),
    Variant("v_id_cl", "(4) Base w/ V&ID&CL", ("image",), ("id", "image")),
    Variant("t", "(5) Base w/ T", ("text",), ()),
    Variant("t_cl", "(6) Base w/ T&CL", ("text",), ("text",)),
    Variant("t_id_cl", "(7) Base w/ T&ID&CL", ("text",), ("id", "text")),
    Variant("vt", "(8) Base w/ V&T", ("image", "text"), ()),
    Variant("vt_cl", "(9) Base w/ V&T&CL", ("image", "text"), ("image", "text")),
    Variant("full", "(10) MCLN", ALL, ("id", ALL)),
    Variant("no_intra", "w/o intra-modality", (), ("id", ALL)),
    Variant("no_inter", "w/o inter-modality", ALL, ()),
])

# Rows of the paper's tables, in the paper's order.
TABLE3 = ("base", "v", "v_cl", "v_id_cl", "t", "t_cl", "t_id_cl", "vt", "vt_cl", "full")
TABLE4 = ("no_intra", "no_inter", "full")


def _expand(names, modalities):
    expanded = []
    for name in names if names != ALL else (ALL,):
        expanded.extend(modalities if name == ALL else [name])
    return tuple(expanded)


def resolve(name, modalities):
    """(score_terms, cl_inputs) of variant ``name`` on data with ``modalities``.

    Raises ValueError when the variant needs a modality the data lacks.
    """
    if name not in VARIANTS:
        raise ValueError("unknown variant %r; choose one of %s" % (name, ", ".join(VARIANTS)))
    variant = VARIANTS[name]
    score_terms = _expand(variant.score_terms, modalities)
    cl_inputs = _expand(variant.cl_inputs, modalities)
    missing = sorted(set(score_terms + cl_inputs) - set(modalities) - {"id"})
    if missing:
        raise ValueError("variant %s needs %s features, but --modalities is %s"
                         % (name, " and ".join(missing), ",".join(modalities)))
    return score_terms, cl_inputs


def same_model(first, second, modalities):
    """Whether variants ``first`` and ``second`` build the same model, initial values
    included, on data with ``modalities`` (no_inter is vt on image and text data): the same
    switches, and both or neither ``full``, the one variant that also creates the release's
    unused weights (they shift every later seeded initial value)."""
    try:
        switches = resolve(first, modalities), resolve(second, modalities)
    except ValueError:
        return False
    return switches[0] == switches[1] and (first == "full") == (second == "full")


def available(names, modalities):
    """The variants of ``names`` that data with ``modalities`` allows, in order; of several
    with the same switches there (v_id_cl and full on image-only data: one architecture,
    though not one run, see same_model) the last is kept."""
    seen, kept = set(), []
    for name in reversed(names):
        try:
            switches = resolve(name, modalities)
        except ValueError:
            continue
        if switches not in seen:
            seen.add(switches)
            kept.append(name)
    return kept[::-1]
