"""A validation grid searched outward from the model's own settings (``grid --explore``).

    python -m experiments.run grid --model mcln --dataset beauty14 --valid --patience 3 \\
        --grid lr=1e-4,1e-3,1e-2,1e-1 --grid decay=1e-5,1e-4,1e-3,1e-2,1e-1 \\
        --explore --confirm 3 --seeds 0,1,2

Instead of every combination, the search runs on the first seed: the start cell (each
flag at the value the presets give the model, or the middle of its list when that value is
not listed), then, while the best cell so far has a neighbour that has not run (one step
along one flag, the other flags held), those neighbours. It ends when the best cell's
neighbours have all run: the best is then a local optimum of the grid, which is how the
ml100k grids were searched by hand. Then the ``--confirm`` best cells run on every seed and
the grid's rule chooses (experiments/grid.py: the best of the cells run on the most seeds).
Every step reads what has finished on disk, so the command resumes like any other.
"""
import os

from experiments.grid import finished_cell
from experiments.statistics import finished_results


def _same(value, wanted):
    """Whether the grid value ``value`` (text) is the setting ``wanted`` (a flag's value)."""
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value) == str(wanted)


def start_cell(axes, settings):
    """Per axis, the index of the value ``settings`` (the model's flags: {name: value})
    gives that flag, or of the middle value when it is not listed."""
    start = []
    for flag, values in axes:
        wanted = settings.get(flag.lstrip("-"))
        listed = [index for index, value in enumerate(values) if _same(value, wanted)]
        start.append(listed[0] if listed else len(values) // 2)
    return tuple(start)


def neighbours(cell, axes):
    """The cells one step away from ``cell`` (indices per axis) along one axis."""
    found = []
    for axis, (_, values) in enumerate(axes):
        for step in (-1, 1):
            index = cell[axis] + step
            if 0 <= index < len(values):
                found.append(cell[:axis] + (index,) + cell[axis + 1:])
    return found


def cell_of(config, axes):
    """The indices per axis of a grid configuration."""
    flags = dict(config.flags)
    return tuple(values.index(flags[flag]) for flag, values in axes)


def scores_on(out_dir, configs, seed):
    """{config name: validation figure on ``seed``} of the cells finished on it."""
    scores = {}
    for config in configs:
        pairs = finished_results(os.path.join(out_dir, config.name))
        cell = finished_cell(config, pairs) if pairs else None
        if cell is not None and seed in cell.by_seed:
            scores[config.name] = cell.by_seed[seed]
    return scores


def next_step(axes, configs, scores, start, seeds, confirm):
    """``(configs, seeds, why)`` to run next, or None when the search is over. ``scores``:
    {name: validation on seeds[0]} of the finished cells; ``start``: start_cell."""
    by_cell = {cell_of(config, axes): config for config in configs}
    if by_cell[start].name not in scores:
        return [by_cell[start]], seeds[:1], "the start cell (the model's settings)"
    ranked = sorted((config for config in configs if config.name in scores),
                    key=lambda config: -scores[config.name])
    best = ranked[0]
    untried = [by_cell[cell] for cell in neighbours(cell_of(best, axes), axes)
               if by_cell[cell].name not in scores]
    if untried:
        return untried, seeds[:1], "the untried neighbours of the best cell so far, %s" % (
            best.label)
    if len(seeds) > 1:
        top = ranked[:confirm]
        return top, seeds, "the %d best cells on seed %d, on every seed" % (
            len(top), seeds[0])
    return None


def steps(axes, configs, settings, seeds, confirm, out_dir):
    """Yield the search's steps (next_step, each after the previous has run), ending after
    the confirmation on every seed (or at once, when the search is over on disk)."""
    start = start_cell(axes, settings)
    while True:
        step = next_step(axes, configs, scores_on(out_dir, configs, seeds[0]), start, seeds,
                         confirm)
        if step is None:
            return
        yield step
        if len(step[1]) > 1:  # the confirmation: the last step
            return
