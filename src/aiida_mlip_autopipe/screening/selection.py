"""Pure helpers of surrogate screening: physical filters, duplicates and farthest-point sampling.

The distance check, the duplicate search and farthest-point sampling are the shared ones of
:mod:`aiida_mlip_autopipe.common`; this module composes them with the surrogate's own filters.

Everything here works on ASE atoms and numpy arrays, so it can be tested and studied without a
profile or a model. :func:`screen` composes the steps in the order the work chain applies them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from ..common.duplicates import descriptor_duplicates
from ..common.geometry import min_interatomic_distance, too_close_reason
from ..common.sampling import farthest_point_sampling

LOGGER = logging.getLogger(__name__)

__all__ = (
    'ScreeningThresholds',
    'duplicate_groups',
    'energy_window_reasons',
    'max_force',
    'reduced_formula',
    'screen',
)


@dataclass(frozen=True)
class ScreeningThresholds:
    """Thresholds of :func:`screen`.

    Attributes
    ----------
    max_force
        Candidates whose largest surrogate force on an atom (eV/A) exceeds this are dropped.
    min_distance
        Candidates with two atoms closer than this (A) are dropped.
    energy_window
        Candidates more than this (eV/atom) above the lowest candidate of the same composition are dropped.
    duplicate_tolerance
        Candidates of one composition whose descriptors lie closer than this are duplicates; the first
        in key order is kept.
    """

    max_force: float = 20.0
    min_distance: float = 1.5
    energy_window: float = 1.0
    duplicate_tolerance: float = 1e-3

    def __post_init__(self):
        for name in ('max_force', 'min_distance', 'energy_window', 'duplicate_tolerance'):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f'`{name}`: {value} is not allowed; give a finite value >= 0')


def max_force(forces: np.ndarray) -> float:
    """Return the largest force norm (eV/A) of an ``(n, 3)`` force array; 0 for no atoms, inf for NaN."""
    forces = np.asarray(forces, dtype=float).reshape(-1, 3)
    if not len(forces):
        return 0.0
    norms = np.linalg.norm(forces, axis=1)
    return float(np.inf) if np.isnan(norms).any() else float(norms.max())


def reduced_formula(atoms: Atoms) -> str:
    """Return the reduced (empirical) Hill formula of ``atoms``, e.g. ``AuCu3`` for 2 Au and 6 Cu."""
    return atoms.get_chemical_formula(mode='hill', empirical=True)


def energy_window_reasons(
    energies_per_atom: Mapping[str, float], formulas: Mapping[str, str], window: float
) -> dict[str, str]:
    """Return ``key -> reason`` for candidates more than ``window`` eV/atom above their composition's lowest.

    Parameters
    ----------
    energies_per_atom
        Surrogate energy per atom (eV/atom) by candidate key.
    formulas
        Reduced formula by candidate key; only candidates of one formula are compared.
    window
        Allowed height (eV/atom) above the lowest candidate of the same formula.
    """
    lowest: dict[str, tuple[float, str]] = {}
    for key in sorted(energies_per_atom):
        energy, formula = energies_per_atom[key], formulas[key]
        if formula not in lowest or energy < lowest[formula][0]:
            lowest[formula] = (energy, key)
    reasons = {}
    for key in sorted(energies_per_atom):
        reference, reference_key = lowest[formulas[key]]
        height = energies_per_atom[key] - reference
        if height > window:
            reasons[key] = (
                f'energy {height:.3f} eV/atom above the lowest {formulas[key]} candidate `{reference_key}`, '
                f'outside the window {window:.3f} eV/atom'
            )
    return reasons


def duplicate_groups(
    keys: Sequence[str], descriptors: np.ndarray, formulas: Mapping[str, str], tolerance: float
) -> dict[str, tuple[str, float]]:
    """Return ``key -> (kept key, descriptor distance)`` for each candidate that duplicates an earlier one.

    Candidates are visited in the order of ``keys``; one whose descriptor lies within ``tolerance``
    (Euclidean) of a kept candidate of the same formula is a duplicate of the nearest such candidate
    (:func:`~aiida_mlip_autopipe.common.duplicates.descriptor_duplicates`).
    """
    groups = [formulas[key] for key in keys]
    found = descriptor_duplicates(descriptors, tolerance, groups)
    return {keys[index]: (keys[kept], distance) for index, (kept, distance) in found.items()}


def _finite_or_none(value: float) -> float | None:
    """Return ``value``, or ``None`` where it is not finite (JSON and the database cannot hold inf)."""
    return float(value) if np.isfinite(value) else None


@dataclass
class ScreeningResult:
    """Outcome of :func:`screen`: the selected keys in pick order, reasons for the rest, per-key metrics."""

    selected: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float | str]] = field(default_factory=dict)


def screen(
    frames: Mapping[str, Atoms],
    descriptors: Mapping[str, np.ndarray],
    thresholds: ScreeningThresholds,
    count: int | None = None,
    seed: int = 0,
    failures: Mapping[str, str] | None = None,
    check_frames: Mapping[str, Atoms] | None = None,
) -> ScreeningResult:
    """Drop unphysical candidates and duplicates, then pick a diverse subset by farthest-point sampling.

    Parameters
    ----------
    frames
        Candidates by key, as ASE atoms with the surrogate's labels (energy, forces) on their
        calculator: these are the geometries that would be labelled (relaxed ones, after a relaxation).
    descriptors
        One descriptor vector per key of ``frames``.
    thresholds
        The filters' thresholds.
    count
        How many to select; ``None`` selects every candidate that passes the filters.
    seed
        Seed of the first farthest-point pick.
    failures
        ``key -> message`` of candidates the surrogate could not evaluate: they are rejected.
    check_frames
        Geometries and labels on which the distance and force filters are applied, by key (the
        candidates as generated, before any relaxation); ``frames`` where absent.

    Returns
    -------
    ScreeningResult
        Selected keys in pick order, ``key -> reason`` for every other candidate, and per-key
        metrics (``energy_per_atom``, ``max_force``, ``min_distance``, ``formula``).
    """
    result = ScreeningResult()
    check_frames = check_frames or {}
    for key, message in sorted((failures or {}).items()):
        result.rejected[key] = f'surrogate failed: {message}'

    formulas, energies = {}, {}
    for key in sorted(frames):
        atoms = frames[key]
        checked = check_frames.get(key, atoms)
        forces = checked.calc.results.get('forces') if checked.calc is not None else None
        force = max_force(forces) if forces is not None else float(np.inf)
        energy = float(atoms.get_potential_energy()) / len(atoms)
        formulas[key] = reduced_formula(atoms)
        energies[key] = energy
        result.metrics[key] = {
            'formula': formulas[key],
            'energy_per_atom': energy,
            'max_force': _finite_or_none(force),
            'min_distance': _finite_or_none(min_interatomic_distance(checked)),
        }
        reason = too_close_reason(checked, thresholds.min_distance)
        if reason is None and not force <= thresholds.max_force:
            reason = f'maximum surrogate force {force:.3f} eV/A above the threshold {thresholds.max_force:.3f} eV/A'
        if reason is None and not np.isfinite(energy):
            reason = 'surrogate energy is not finite'
        if reason:
            result.rejected[key] = reason

    physical = [key for key in sorted(frames) if key not in result.rejected]
    result.rejected.update(
        energy_window_reasons(
            {key: energies[key] for key in physical}, {key: formulas[key] for key in physical}, thresholds.energy_window
        )
    )

    remaining = [key for key in physical if key not in result.rejected]
    matrix = np.array([np.asarray(descriptors[key], dtype=float).ravel() for key in remaining])
    for key, (original, distance) in duplicate_groups(
        remaining, matrix, formulas, thresholds.duplicate_tolerance
    ).items():
        result.rejected[key] = (
            f'duplicate of `{original}` (descriptor distance {distance:.2e} <= {thresholds.duplicate_tolerance:.2e})'
        )

    unique = [key for key in remaining if key not in result.rejected]
    if not unique:
        return result
    matrix = np.array([np.asarray(descriptors[key], dtype=float).ravel() for key in unique])
    picks, distances = farthest_point_sampling(matrix, len(unique) if count is None else count, seed)
    result.selected = [unique[index] for index in picks]
    for index, key in enumerate(unique):
        result.metrics[key]['distance_to_selected'] = float(distances[index])
        if key not in result.selected:
            result.rejected[key] = (
                f'not selected: farthest-point sampling kept {len(picks)} of {len(unique)} distinct candidates; '
                f'descriptor distance {distances[index]:.3e} to the nearest selected'
            )
    return result
