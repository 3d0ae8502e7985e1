"""Distance checks applied before DFT."""

from __future__ import annotations

import pytest
from ase.build import bulk

from aiida_mlip_autopipe.common.geometry import min_interatomic_distance, too_close_reason


def test_min_distance_sees_periodic_images():
    atoms = bulk('Cu', 'fcc', a=3.6)  # one atom: only images
    assert min_interatomic_distance(atoms) == pytest.approx(3.6 / 2**0.5)


def test_close_atoms_are_refused_with_the_distance():
    atoms = bulk('Cu', 'fcc', a=3.6, cubic=True)
    assert too_close_reason(atoms, 1.0) is None
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.4, 0.0]
    assert too_close_reason(atoms, 1.0) == 'atoms 0.500 A apart, closer than the minimum distance 1.000 A'
