"""Calcfunctions of the campaign: how data changed between iterations is recorded on the graph."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ..common.scoring import score_potential
from ..data import TrainingSet
from .rules import COMPOSITION_TOLERANCE, split_held_out


@calcfunction
def merge_training_sets(**training_sets) -> TrainingSet:
    """Merge training sets in key order; a configuration present in several is kept once."""
    merged = None
    for key in sorted(training_sets):
        merged = training_sets[key] if merged is None else merged.merge(training_sets[key])
    if merged is None:
        return TrainingSet(frames=[])
    return TrainingSet(frames=merged.to_atoms()) if merged.is_stored else merged  # an input cannot be the output


@calcfunction
def split_held_out_labels(labels: TrainingSet, parameters: orm.Dict) -> dict:
    """Split a labelled batch into ``train`` and ``held_out`` (never trained on), see ``rules.split_held_out``.

    ``parameters``: ``strata`` (key -> [kind, composition, temperature]; keys are the frames'
    ``config_type``), ``fraction``, ``kinds_held`` (kinds the held-out set has already), ``seed`` and,
    optionally, ``labels_before`` and ``held_before`` (the labels so far, and those of them held out).
    """
    settings = parameters.get_dict()
    frames = labels.to_atoms()
    strata = {
        atoms.info['config_type']: tuple(settings['strata'].get(atoms.info['config_type'], ['other']))
        for atoms in frames
    }
    held = set(
        split_held_out(
            strata,
            settings['fraction'],
            set(settings['kinds_held']),
            settings['seed'],
            settings.get('labels_before', 0),
            settings.get('held_before', 0),
        )
    )
    return {
        'train': TrainingSet(frames=[atoms for atoms in frames if atoms.info['config_type'] not in held]),
        'held_out': TrainingSet(frames=[atoms for atoms in frames if atoms.info['config_type'] in held]),
    }


@calcfunction
def score_potentials(held_out: TrainingSet, **potentials) -> orm.Dict:
    """Return the errors of each potential on the held-out set (``common.scoring.prediction_errors``), by key."""
    frames = held_out.to_atoms()
    return orm.Dict({key: score_potential(potential, frames) for key, potential in sorted(potentials.items())})


@calcfunction
def summarise_campaign(summary: orm.Dict) -> orm.Dict:
    """Record the per-iteration table of the campaign (labels, errors, gamma statistics, state)."""
    return orm.Dict(summary.get_dict())


def composition_distance(point: dict[str, float], atoms) -> float:
    """Return the largest difference of atomic fraction between composition ``point`` and ``atoms``."""
    symbols = atoms.get_chemical_symbols()
    return max(
        abs(point.get(symbol, 0.0) - symbols.count(symbol) / len(symbols)) for symbol in set(point) | set(symbols)
    )


def redecorated(atoms, point: dict[str, float], rng):
    """Return a copy of ``atoms`` whose species are changed, at random sites, to the whole-atom counts nearest to
    ``point`` (largest remainders, ``common.composition.site_counts``); the sites and the cell stay."""
    import numpy as np

    from ..common.composition import site_counts

    cell = atoms.copy()
    symbols = np.array(cell.get_chemical_symbols(), dtype=object)
    target = site_counts(point, len(cell))
    spare = []
    for element in sorted(set(symbols)):
        indices = np.flatnonzero(symbols == element)
        excess = len(indices) - target.get(element, 0)
        if excess > 0:
            spare += rng.choice(indices, size=excess, replace=False).tolist()
    spare = [spare[i] for i in rng.permutation(len(spare))]
    for element, count in target.items():
        missing = count - int(np.sum(symbols == element))
        for _ in range(max(missing, 0)):
            symbols[spare.pop()] = element
    cell.set_chemical_symbols(list(symbols))
    return cell


def starting_frames(frames, compositions: list[dict], min_atoms: int, seed: int):
    """Return one MD starting cell per campaign composition point, from labelled ``frames``.

    For each point the periodic frames closest to it in composition are taken, and among those the
    one with the lowest energy per atom (a relaxed-like bulk cell rather than a strained or rattled
    one; ties broken by a seeded shuffle), without its labels, repeated along its shortest cell
    vectors until it holds at least ``min_atoms`` atoms. Points that pick the same frame share one cell.
    A point farther than ``rules.COMPOSITION_TOLERANCE`` from every frame (an interior point of a
    ternary that no generated cell sits near) gets the repeated cell with its species changed at random
    sites to the whole-atom composition nearest to the point (:func:`redecorated`), so the exploration
    reaches every point the stop rule asks for.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames))
    periodic = [frames[i] for i in order if frames[i].pbc.all()]
    if not periodic:
        return []
    cells, taken = [], set()
    for point in compositions:
        distances = [composition_distance(point, atoms) for atoms in periodic]
        closest = [atoms for atoms, value in zip(periodic, distances) if value <= min(distances) + 1e-9]
        best = min(closest, key=lambda atoms: atoms.get_potential_energy() / len(atoms))
        far = min(distances) > COMPOSITION_TOLERANCE + 1e-9
        identity = (id(best), tuple(sorted(point.items())) if far else None)
        if identity in taken:
            continue
        taken.add(identity)
        atoms = best.copy()
        atoms.calc = None
        repeat = [1, 1, 1]
        while len(atoms) * np.prod(repeat) < min_atoms:
            lengths = atoms.cell.lengths() * repeat
            repeat[int(np.argmin(lengths))] += 1
        cell = atoms.repeat(repeat)
        cells.append(redecorated(cell, point, rng) if far else cell)
    return cells


@calcfunction
def generate_starting_structures(training_set: TrainingSet, settings: orm.Dict) -> dict:
    """Pick the MD starting cells of an exploration from the training set (see :func:`starting_frames`)."""
    cells = starting_frames(training_set.to_atoms(), **settings.get_dict())
    return {f'start_{index:02d}': orm.StructureData(ase=atoms) for index, atoms in enumerate(cells)}
