"""Fixtures: a temporary AiiDA profile (never ~/.aiida), the local computer, pw.x and the pseudo family."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

pytest_plugins = ['aiida.tools.pytest_fixtures']


def pytest_configure(config):
    aiida_path = os.environ.get('AIIDA_PATH')
    if not aiida_path or Path(aiida_path).expanduser().resolve() == Path.home().resolve():
        raise pytest.UsageError(
            'set AIIDA_PATH to a temporary folder (scripts/run_tests.sh does) to keep tests out of ~/.aiida'
        )


@pytest.fixture(scope='session')
def localhost(aiida_profile, tmp_path_factory):
    """The local computer, configured as `mlip-autopipe setup` does it."""
    from aiida_mlip_autopipe.setup import ensure_localhost

    return ensure_localhost('localhost-test', mpiprocs=1, workdir=str(tmp_path_factory.mktemp('scratch')))


@pytest.fixture(scope='session')
def pw_code(localhost):
    """Debian's pw.x registered as a `quantumespresso.pw` code."""
    from aiida_mlip_autopipe.setup import ensure_code

    return ensure_code('pw', localhost, 'quantumespresso.pw', 'pw.x')


@pytest.fixture(scope='session')
def python_code(localhost):
    """This Python registered as the plugin's `python` code (task jobs import the plugin from where the tests do)."""
    from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code

    return ensure_code('python', localhost, CODES['python'][0], default_executable('python'))


@pytest.fixture(scope='session')
def pseudo_family(aiida_profile):
    """The Debian LDA family with the measured cutoffs."""
    from aiida_mlip_autopipe.pseudos import install_pseudo_family

    return install_pseudo_family()


@pytest.fixture
def labelled_frames():
    """Eight EMT-labelled Cu/Au/Al configurations of mixed size and species (seeded)."""
    rng = np.random.default_rng(7)
    frames = []
    for index, (symbols, size) in enumerate([('Cu', 1), ('Au', 2), ('Al', 1), ('Cu', 2)] * 2):
        atoms = bulk(symbols, 'fcc', a={'Cu': 3.6, 'Au': 4.08, 'Al': 4.05}[symbols], cubic=size == 2)
        if index % 2:
            atoms.symbols[0] = 'Au' if symbols != 'Au' else 'Cu'
        atoms.rattle(0.05, seed=int(rng.integers(1000)))
        atoms.calc = EMT()
        atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()
        atoms.info['source_uuid'] = f'00000000-0000-0000-0000-00000000000{index}'
        atoms.info['config_type'] = f'frame{index}'
        frames.append(atoms)
    return frames


def cu3au() -> Atoms:
    """L1_2 Cu3Au, four atoms, LDA-like lattice parameter."""
    atoms = bulk('Cu', 'fcc', a=3.70, cubic=True)
    atoms.symbols[0] = 'Au'
    return atoms
