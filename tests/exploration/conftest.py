"""Fixtures of the exploration tests: the ML-PACE ``lmp`` code, the Cu-Au fixture potential, Cu-Au cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'ace_cuau'
#: EMT's fcc lattice parameters, the ones the fixture potential was trained around (Vegard in between)
LATTICE = {'Cu': 3.59, 'Au': 4.055}


def cuau_cell(au_fraction: float = 0.25, scale: float = 1.0, repeat=(2, 2, 2), seed: int = 0) -> Atoms:
    """Return a cubic fcc Cu-Au cell with Vegard's lattice parameter times ``scale``, Au on random sites."""
    atoms = bulk('Cu', 'fcc', a=1.0, cubic=True).repeat(repeat)
    n_au = round(au_fraction * len(atoms))
    lattice = (1 - n_au / len(atoms)) * LATTICE['Cu'] + n_au / len(atoms) * LATTICE['Au']
    atoms.set_cell(atoms.cell.array * lattice * scale, scale_atoms=True)
    atoms.symbols[np.random.default_rng(seed).permutation(len(atoms))[:n_au]] = 'Au'
    return atoms


@pytest.fixture(scope='session')
def lmp_executable():
    """The ML-PACE LAMMPS that `make setup` builds (`mlip-autopipe install-codes lammps`)."""
    from aiida_mlip_autopipe.setup import default_executable

    path = default_executable('lmp')
    assert Path(path).is_file(), f'{path} missing: run `make setup` (`mlip-autopipe install-codes lammps` builds it)'
    return path


@pytest.fixture(scope='session')
def lmp_code(localhost, lmp_executable):
    """`lmp` registered as `mlip-autopipe setup` does it: a code for aiida-lammps' `lammps.raw`."""
    from aiida_mlip_autopipe.setup import ensure_code

    return ensure_code('lmp', localhost, 'lammps.raw', lmp_executable)


@pytest.fixture(scope='session')
def cuau_potential(aiida_profile):
    """The small Cu-Au ACE potential of the training fixture (yaml, yace, asi), stored."""
    from aiida_mlip_autopipe.data import AcePotential

    return AcePotential.from_files(
        FIXTURE / 'potential.yaml', FIXTURE / 'potential.yace', FIXTURE / 'potential.asi'
    ).store()
