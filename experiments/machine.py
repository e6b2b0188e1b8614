"""A one-line description of the machine a summary was written on, and of the features."""
import os
import platform

import numpy as np

from experiments import paper
from utility.common.errors import InputError
from utility.data.load import feature_source


def _first_value(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def describe():
    """CPU model, cores, memory, operating system and Python version."""
    cpu = _first_value("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory = _first_value("/proc/meminfo", "MemTotal")
    gigabytes = ", %.0f GB" % (int(memory.split()[0]) / 2.0 ** 20) if memory else ""
    return "%s, %d cores%s, %s, Python %s" % (cpu, os.cpu_count() or 1, gigabytes,
                                              platform.platform(terse=True),
                                              platform.python_version())


def feature_width(data_dir, modality):
    """The width of a modality's features (its .npy's columns, or the columns after the item
    id on the first line of its text file), or None when there is no readable file."""
    try:
        path = feature_source(data_dir, modality)
        if path.endswith(".npy"):
            return int(np.load(path, mmap_mode="r").shape[1])
        with open(path) as f:
            return len(f.readline().split()) - 1
    except (InputError, OSError, ValueError, IndexError):
        return None


def describe_features(dataset, data_dir, modalities):
    """Which features the runs used: widths read from the files, and their kind."""
    widths = []
    for modality in modalities:
        width = feature_width(data_dir, modality)
        widths.append("%s %s-d" % (modality, width if width is not None else "?"))
    if paper.paper_dataset(dataset):
        kind = ("entity-bag features built from the public splits by utility/data/prepare.py, "
                "not the paper's VGG (4,096-d) and sentence2vec (300-d) features: compare our "
                "configurations with each other, not with the paper's numbers")
    elif dataset.lower() == "demo":
        kind = "the synthetic demo's features, made by utility/data/demo.py"
    elif dataset.lower().startswith("spurious"):
        kind = ("the planted benchmark's pictures (preference factors and style mixed in "
                "every column), made by utility/data/spurious.py")
    else:
        kind = "the dataset's own feature files"
    return "%s (%s in %s)" % (kind, ", ".join(widths), data_dir)
