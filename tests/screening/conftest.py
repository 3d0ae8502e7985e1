"""Fixtures of the screening tests: the surrogate code (CHGNet in its own venv, installed by make setup)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope='session')
def surrogate_code(localhost):
    """The surrogate venv's Python registered as a `mlip_autopipe.surrogate` code, as `mlip-autopipe setup` does."""
    from aiida_mlip_autopipe.setup import default_executable, ensure_code

    return ensure_code('surrogate', localhost, 'mlip_autopipe.surrogate', default_executable('surrogate'))
