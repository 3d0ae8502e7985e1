"""Calcfunctions of the campaign: how data changed between iterations is recorded on the graph."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ..data import TrainingSet


@calcfunction
def merge_training_sets(**training_sets) -> TrainingSet:
    """Merge training sets in key order; a configuration present in several is kept once."""
    merged = None
    for key in sorted(training_sets):
        merged = training_sets[key] if merged is None else merged.merge(training_sets[key])
    return TrainingSet(frames=merged.to_atoms()) if merged is not None else TrainingSet(frames=[])


@calcfunction
def summarise_campaign(summary: orm.Dict) -> orm.Dict:
    """Record the per-iteration table of the campaign (labels, errors, gamma statistics, state)."""
    return orm.Dict(summary.get_dict())


def starting_frames(frames, max_structures: int, min_atoms: int, seed: int):
    """Return up to ``max_structures`` MD starting cells from labelled ``frames``, one per composition.

    For each composition (fractions rounded to 0.01) the frame with the most atoms is taken (ties
    broken by a seeded shuffle), without its labels, and repeated along its shortest cell vectors
    until it holds at least ``min_atoms`` atoms. Compositions are spread evenly when more exist than
    ``max_structures``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames))
    by_composition = {}
    for index in order:
        atoms = frames[index]
        if not atoms.pbc.all():
            continue
        symbols = atoms.get_chemical_symbols()
        key = tuple(sorted((s, round(symbols.count(s) / len(symbols), 2)) for s in set(symbols)))
        if key not in by_composition or len(atoms) > len(by_composition[key]):
            by_composition[key] = atoms
    keys = sorted(by_composition)
    if len(keys) > max_structures:
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_structures).round().astype(int)]
    cells = []
    for key in keys:
        atoms = by_composition[key].copy()
        atoms.calc = None
        repeat = [1, 1, 1]
        while len(atoms) * np.prod(repeat) < min_atoms:
            lengths = atoms.cell.lengths() * repeat
            repeat[int(np.argmin(lengths))] += 1
        cells.append(atoms.repeat(repeat))
    return cells


@calcfunction
def generate_starting_structures(training_set: TrainingSet, settings: orm.Dict) -> dict:
    """Pick the MD starting cells of an exploration from the training set (see :func:`starting_frames`)."""
    cells = starting_frames(training_set.to_atoms(), **settings.get_dict())
    return {f'start_{index:02d}': orm.StructureData(ase=atoms) for index, atoms in enumerate(cells)}
