"""Duplicates, shared by the stages: structures equal up to symmetry, and near-equal descriptor vectors.

- :func:`find_duplicates`: structures that pymatgen's ``StructureMatcher`` maps onto each other
  (generation), prefiltered by a cheap invariant (:func:`structure_fingerprint`).
- :func:`descriptor_duplicates`: rows of a descriptor matrix within a distance of a row kept before
  them (surrogate screening, exploration's farthest-point selection).

Exact identity of a labelled configuration (species, positions and cell to 1e-4 A) is the
``TrainingSet``'s own :func:`aiida_mlip_autopipe.data.training_set.fingerprint`, by which merging
drops repeated frames.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

LOGGER = logging.getLogger(__name__)


def structure_fingerprint(atoms: Atoms, cutoff: float) -> np.ndarray:
    """Return a cheap invariant: volume per atom and moments of the neighbour distances per species pair.

    Symmetry-equivalent structures (any cell, any setting) have equal fingerprints, so only
    structures with close fingerprints need the expensive matcher.
    """
    first, second, distances = neighbor_list('ijd', atoms, cutoff)
    numbers = atoms.numbers
    values = [atoms.get_volume() / len(atoms)]
    for pair in sorted({(a, b) for a in set(numbers) for b in set(numbers) if a <= b}):
        mask = (numbers[first] == pair[0]) & (numbers[second] == pair[1])
        selected = distances[mask]
        values += [
            len(selected) / len(atoms),
            selected.mean() if len(selected) else 0.0,
            selected.std() if len(selected) else 0.0,
        ]
    return np.array(values)


def find_duplicates(structures: dict[str, Atoms], tolerance: float = 0.01, cutoff: float = 4.0) -> dict[str, str]:
    """Return ``{duplicate key: key kept}`` for structures equivalent to an earlier one (in key order).

    Two structures are duplicates when pymatgen's ``StructureMatcher`` (no volume scaling, site
    tolerance ``tolerance`` in units of the average atomic spacing, lattice tolerance
    ``tolerance``) maps one onto the other, whatever their cell settings. Only cells with the same
    number of atoms are compared: primitive-cell reduction (pymatgen's tolerance 0.25 A) would fold
    a rattled supercell onto its unrattled parent.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    matcher = StructureMatcher(
        ltol=tolerance, stol=tolerance, angle_tol=max(tolerance * 50, 0.1), scale=False, primitive_cell=False
    )
    groups: dict[str, list[tuple[str, np.ndarray, object]]] = defaultdict(list)
    duplicates: dict[str, str] = {}
    for key in sorted(structures):
        atoms = structures[key]
        formula = f'{atoms.symbols.formula.reduce()[0].format("metal")}:{len(atoms)}'
        fingerprint = structure_fingerprint(atoms, cutoff)
        structure = None
        for kept_key, kept_fingerprint, kept_structure in groups[formula]:
            if len(kept_fingerprint) != len(fingerprint) or not np.allclose(
                kept_fingerprint, fingerprint, rtol=0, atol=2 * tolerance
            ):
                continue
            if structure is None:
                structure = AseAtomsAdaptor.get_structure(atoms)
            if matcher.fit(kept_structure, structure):
                duplicates[key] = kept_key
                break
        else:
            groups[formula].append((key, fingerprint, structure or AseAtomsAdaptor.get_structure(atoms)))
    LOGGER.debug('%d duplicates among %d structures', len(duplicates), len(structures))
    return duplicates


def euclidean_distances(points: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Return the Euclidean distance of each row of ``points`` to ``point``."""
    return np.linalg.norm(np.asarray(points) - point, axis=1)


def descriptor_duplicates(
    descriptors: np.ndarray,
    tolerance: float,
    groups: Sequence | None = None,
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray] = euclidean_distances,
) -> dict[int, tuple[int, float]]:
    """Return ``index -> (kept index, distance)`` for each row that duplicates a row kept before it.

    Rows are visited in order. A row whose ``distance`` to the nearest kept row of its group (one
    group for all rows when ``groups`` is None) is at most ``tolerance`` duplicates that row (ties
    go to the earlier one); every other row is kept.

    Parameters
    ----------
    descriptors
        One descriptor vector per row.
    tolerance
        Largest distance at which two rows are duplicates.
    groups
        Optional group label of each row (e.g. the reduced formula): only rows of one group are compared.
    distance
        ``distance(rows, row)`` -> the distance of each of ``rows`` to ``row`` (Euclidean by default).
    """
    descriptors = np.asarray(descriptors, dtype=float)
    if not len(descriptors):
        return {}
    descriptors = descriptors.reshape(len(descriptors), -1)
    kept: list[int] = []
    duplicates = {}
    for index in range(len(descriptors)):
        same = [other for other in kept if groups is None or groups[other] == groups[index]]
        if same:
            distances = distance(descriptors[same], descriptors[index])
            nearest = int(np.argmin(distances))
            if distances[nearest] <= tolerance:
                duplicates[index] = (same[nearest], float(distances[nearest]))
                continue
        kept.append(index)
    return duplicates
