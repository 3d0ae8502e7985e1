"""Fixtures of the training tests: the pacemaker code, EMT Cu-Au frames, the fixture potential."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
ACE_CUAU = Path(__file__).resolve().parents[1] / 'fixtures' / 'ace_cuau'


def _load_fixture_script():
    path = Path(__file__).resolve().parents[1] / 'fixtures' / 'make_ace_cuau.py'
    spec = importlib.util.spec_from_file_location('make_ace_cuau', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def emt_cuau_frames():
    """``emt_cuau_frames(count, seed)``: EMT-labelled Cu-Au fcc cells (tests/fixtures/make_ace_cuau.py)."""
    return _load_fixture_script().emt_cuau_frames


@pytest.fixture(scope='session')
def pacemaker_code(localhost):
    """pacemaker's environment registered as `mlip-autopipe setup` does it."""
    from aiida_mlip_autopipe.setup import CODES, default_executable, ensure_code

    return ensure_code('pacemaker', localhost, CODES['pacemaker'][0], default_executable('pacemaker'))


@pytest.fixture
def cuau_potential(aiida_profile):
    """The committed Cu-Au fixture potential as an unstored ``AcePotential``."""
    from aiida_mlip_autopipe.data import AcePotential

    return AcePotential.from_files(ACE_CUAU / 'potential.yaml', ACE_CUAU / 'potential.yace', ACE_CUAU / 'potential.asi')
