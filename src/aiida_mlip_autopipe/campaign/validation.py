"""Equation-of-state check of the campaign's potential against its labeller.

The helpers and calcfunctions live in the validation stage, :mod:`aiida_mlip_autopipe.validation.eos`;
they are imported here for the campaign.
"""

from __future__ import annotations

from ..validation.eos import (
    CONVENTIONAL_ATOMS,
    VOLUME_STRAINS,
    compare_eos_frames,
    compare_equations_of_state,
    eos_key,
    fit_eos,
    generate_eos_structures,
    lattice_parameter,
    reference_cell,
    strained_series,
)

__all__ = (
    'CONVENTIONAL_ATOMS',
    'VOLUME_STRAINS',
    'compare_eos_frames',
    'compare_equations_of_state',
    'eos_key',
    'fit_eos',
    'generate_eos_structures',
    'lattice_parameter',
    'reference_cell',
    'strained_series',
)
