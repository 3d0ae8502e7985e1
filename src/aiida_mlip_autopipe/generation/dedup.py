"""Removal of symmetry-equivalent duplicates (pymatgen ``StructureMatcher``)."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

LOGGER = logging.getLogger(__name__)


def _fingerprint(atoms: Atoms, cutoff: float) -> np.ndarray:
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
        fingerprint = _fingerprint(atoms, cutoff)
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
