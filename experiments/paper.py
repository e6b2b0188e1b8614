"""The published numbers of the paper, as data.

Li, Guo, Liu, Hong, Xue: "Multimodal Counterfactual Learning Network for Multimedia-based
Recommendation", SIGIR 2023, pp. 1539-1548. One run per cell, no seeds or deviations; VGG
image and sentence2vec text features (not the features this repository can use).
Keys are this repository's names: datasets as ``DATASETS`` maps them, models as
``model.MODEL_NAMES`` spells them (plus the baselines not implemented here), variants as
``model.variants.VARIANTS`` names them, layer counts as integers.
"""

# Preset name -> the paper's dataset name; other datasets have no published numbers.
DATASETS = {"amazon": "Beauty", "beauty": "Beauty", "art": "Art", "taobao": "Taobao"}

# Table 2 (overall comparison): per dataset and model, HR@5, NDCG@5, HR@10, NDCG@10.
_TABLE2_METRICS = ("hit@5", "ndcg@5", "hit@10", "ndcg@10")
_TABLE2 = {
    "Beauty": {
        "bprmf": (0.4274, 0.3343, 0.5173, 0.3634),
        "svdpp": (0.4584, 0.3592, 0.5520, 0.3895),
        "ngcf": (0.4853, 0.3776, 0.5820, 0.4089),
        "lightgcn": (0.5229, 0.3909, 0.6385, 0.4285),
        "vbpr": (0.4722, 0.3665, 0.5670, 0.3973),
        "mmgcn": (0.4934, 0.3714, 0.6067, 0.4081),
        "mgat": (0.5010, 0.3781, 0.6152, 0.4152),
        "invrl": (0.5130, 0.3955, 0.6097, 0.4268),
        "dmrl": (0.5230, 0.4075, 0.6215, 0.4396),
        "mcln": (0.5636, 0.4368, 0.6689, 0.4710),
    },
    "Art": {
        "bprmf": (0.6333, 0.5597, 0.7052, 0.5829),
        "svdpp": (0.6530, 0.5627, 0.7425, 0.5916),
        "ngcf": (0.6742, 0.5882, 0.7541, 0.6141),
        "lightgcn": (0.6938, 0.5996, 0.7710, 0.6246),
        "vbpr": (0.6699, 0.5830, 0.7464, 0.6078),
        "mmgcn": (0.6769, 0.5643, 0.7702, 0.5945),
        "mgat": (0.6825, 0.5784, 0.7699, 0.6067),
        "invrl": (0.6965, 0.5986, 0.7748, 0.6237),
        "dmrl": (0.6972, 0.6008, 0.7775, 0.6272),
        "mcln": (0.7168, 0.6123, 0.7973, 0.6384),
    },
    "Taobao": {
        "bprmf": (0.3215, 0.2465, 0.4049, 0.2733),
        "svdpp": (0.3374, 0.2523, 0.4293, 0.2819),
        "ngcf": (0.3575, 0.2658, 0.4593, 0.2986),
        "lightgcn": (0.3886, 0.2896, 0.4961, 0.3243),
        "vbpr": (0.3464, 0.2639, 0.4364, 0.2928),
        "mmgcn": (0.3649, 0.2709, 0.4695, 0.3047),
        "mgat": (0.3783, 0.2820, 0.4882, 0.3175),
        "invrl": (0.3913, 0.2926, 0.4897, 0.3244),
        "dmrl": (0.3757, 0.2876, 0.4594, 0.3146),
        "mcln": (0.4067, 0.3060, 0.5105, 0.3393),
    },
}
# How the paper writes the models' names.
MODEL_LABELS = {"bprmf": "BPRMF", "svdpp": "SVD++", "ngcf": "NGCF", "lightgcn": "LightGCN",
                "vbpr": "VBPR", "mmgcn": "MMGCN", "mgat": "MGAT", "invrl": "InvRL",
                "dmrl": "DMRL", "mcln": "MCLN"}

# Tables 3 (ablation), 4 (fusion) and 5 (counterfactual layers): HR@5, NDCG@5.
_AT5 = ("hit@5", "ndcg@5")
_TABLE3 = {
    "Beauty": {"base": (0.5293, 0.4069), "v": (0.5313, 0.4087), "v_cl": (0.5384, 0.4108),
               "v_id_cl": (0.5386, 0.4116), "t": (0.5462, 0.4228), "t_cl": (0.5582, 0.4271),
               "t_id_cl": (0.5589, 0.4309), "vt": (0.5492, 0.4230),
               "vt_cl": (0.5620, 0.4362), "full": (0.5636, 0.4368)},
    "Art": {"base": (0.7016, 0.5932), "v": (0.7028, 0.5963), "v_cl": (0.7046, 0.5980),
            "v_id_cl": (0.7060, 0.5994), "t": (0.7105, 0.6036), "t_cl": (0.7151, 0.6054),
            "t_id_cl": (0.7156, 0.6060), "vt": (0.7110, 0.6055), "vt_cl": (0.7164, 0.6116),
            "full": (0.7168, 0.6123)},
    # Taobao has no text: its MCLN is Base w/ V&ID&CL, reported as row (10).
    "Taobao": {"base": (0.3933, 0.2950), "v": (0.3994, 0.2993), "v_cl": (0.4048, 0.3034),
               "full": (0.4067, 0.3060)},
}
_TABLE4 = {
    "Beauty": {"no_intra": (0.5379, 0.4128), "no_inter": (0.5492, 0.4230),
               "full": (0.5636, 0.4368)},
    "Art": {"no_intra": (0.7067, 0.5939), "no_inter": (0.7110, 0.6055),
            "full": (0.7168, 0.6123)},
}
_TABLE5 = {
    "Beauty": {1: (0.5602, 0.4302), 2: (0.5636, 0.4368), 3: (0.5629, 0.4361),
               4: (0.5616, 0.4316), 5: (0.5600, 0.4280)},
    "Art": {1: (0.7145, 0.6114), 2: (0.7168, 0.6123), 3: (0.7138, 0.6081),
            4: (0.7126, 0.6066), 5: (0.7115, 0.6006)},
    "Taobao": {1: (0.4012, 0.3008), 2: (0.4018, 0.3021), 3: (0.4044, 0.3046),
               4: (0.4067, 0.3060), 5: (0.4036, 0.3041)},
}
# Figure 4 (GCN layers 1..6) is plotted only; the text names the best layer count.
FIGURE4_BEST = {"Beauty": 4, "Art": 5, "Taobao": 5}
# The paper's general statements where a dataset has no number of its own.
TABLE5_BEST_ANYWHERE = (2, 4)
FIGURE4_BEST_ANYWHERE = (4, 5)


def _as_dicts(table, metrics):
    return {dataset: {row: dict(zip(metrics, values)) for row, values in rows.items()}
            for dataset, rows in table.items()}


TABLES = {
    "table2": _as_dicts(_TABLE2, _TABLE2_METRICS),
    "table3": _as_dicts(_TABLE3, _AT5),
    "table4": _as_dicts(_TABLE4, _AT5),
    "table5": _as_dicts(_TABLE5, _AT5),
}


def paper_dataset(dataset):
    """The paper's name of ``dataset`` (a preset name), or None."""
    return DATASETS.get(dataset.lower())


def numbers(table, dataset, row):
    """{metric: value} the paper reports for ``row`` of ``table`` on ``dataset`` ({} if none)."""
    return dict(TABLES.get(table, {}).get(paper_dataset(dataset), {}).get(row, {}))


def best_row(table, dataset):
    """The row of ``table`` with the highest HR@5 on ``dataset``, or None."""
    rows = TABLES[table].get(paper_dataset(dataset), {})
    return max(rows, key=lambda row: rows[row]["hit@5"]) if rows else None
