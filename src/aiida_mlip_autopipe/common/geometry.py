"""Geometry shared by the stages: shortest interatomic distance, atoms too close to be labelled, volume scaling."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


def min_interatomic_distance(atoms: Atoms, search_radius: float = 3.0) -> float:
    """Return the shortest distance (A) between two atoms, periodic images included.

    Only pairs closer than ``search_radius`` are examined; if there are none, ``inf`` is returned.
    """
    distances = neighbor_list('d', atoms, search_radius)
    return float(distances.min()) if len(distances) else float(np.inf)


def too_close_reason(atoms: Atoms, min_distance: float) -> str | None:
    """Return why ``atoms`` must be refused (two atoms closer than ``min_distance``), or ``None``."""
    shortest = min_interatomic_distance(atoms, search_radius=max(min_distance, 0.1))
    if shortest < min_distance:
        return f'atoms {shortest:.3f} A apart, closer than the minimum distance {min_distance:.3f} A'
    return None


def volume_strained(atoms: Atoms, strain: float) -> Atoms:
    """Return a copy of ``atoms`` scaled isotropically to ``(1 + strain)`` times its volume."""
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array * (1 + strain) ** (1 / 3), scale_atoms=True)
    return strained
