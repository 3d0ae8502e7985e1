"""Errors of a potential against labelled frames: the numbers the campaign decides on."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.units import GPa


def prediction_errors(frames: list[Atoms], predict) -> dict[str, float]:
    """Return energy, force and stress errors of ``predict`` on labelled ``frames``.

    ``predict(atoms)`` returns ``(total energy eV, forces eV/A)`` on the labeller's energy scale, or
    ``(energy, forces, stress)`` with the stress in ASE's Voigt order and sign (eV/A^3). Returns the
    energy RMSE (meV/atom), the force-component RMSE (meV/A), the 95th percentile and the maximum of
    the per-atom force-error norm (meV/A), and, when a prediction and a label both carry stress,
    ``stress_rmse`` (GPa, over the six components of the frames that have it) and ``frames``.
    """
    if not frames:
        raise ValueError('no labelled frames to score on')
    energy_errors, force_errors, stress_errors = [], [], []
    for atoms in frames:
        predicted = predict(atoms)
        energy, forces = predicted[0], predicted[1]
        energy_errors.append((energy - atoms.get_potential_energy()) / len(atoms))
        force_errors.append(np.asarray(forces) - atoms.get_forces())
        label = atoms.calc.results.get('stress') if atoms.calc is not None else None
        if len(predicted) > 2 and predicted[2] is not None and label is not None:
            stress_errors.append((np.asarray(predicted[2]) - np.asarray(label)) / GPa)
    delta = np.concatenate(force_errors)
    norms = np.linalg.norm(delta, axis=1)
    errors = {
        'frames': len(frames),
        'energy_rmse': 1000 * float(np.sqrt(np.mean(np.square(energy_errors)))),
        'force_rmse': 1000 * float(np.sqrt(np.mean(delta**2))),
        'force_p95': 1000 * float(np.percentile(norms, 95)),
        'force_max': 1000 * float(norms.max()),
    }
    if stress_errors:
        errors['stress_rmse'] = float(np.sqrt(np.mean(np.square(stress_errors))))
    return errors


def potential_predictor(potential):
    """Return ``predict(atoms) -> (energy, forces, stress)`` of an ``AcePotential`` on the labeller's scale.

    The potential predicts energies relative to its reference energies; they are added back here.
    """
    calculator = potential.get_calculator(active_set=False)

    def predict(atoms: Atoms):
        copy = atoms.copy()
        copy.calc = calculator
        energy = copy.get_potential_energy() + potential.reference_energy(copy.get_chemical_symbols())
        stress = copy.get_stress() if copy.pbc.all() else None
        return energy, copy.get_forces(), stress

    return predict


def score_potential(potential, frames: list[Atoms]) -> dict[str, float]:
    """Return :func:`prediction_errors` of ``potential`` (an ``AcePotential``) on ``frames``."""
    return prediction_errors(frames, potential_predictor(potential))
