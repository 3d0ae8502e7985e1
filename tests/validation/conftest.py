"""Fixtures of the validation tests: the ML-PACE ``lmp`` code of the exploration tests."""

from __future__ import annotations

from ..exploration.conftest import lmp_code, lmp_executable  # noqa: F401
