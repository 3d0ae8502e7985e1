"""Pure helpers of the selection benchmark: errors, selection of the same count, labels to a target."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.benchmark.heldout import alloy_cell
from aiida_mlip_autopipe.benchmark.metrics import (
    gamma_selection,
    labels_to_target,
    prediction_errors,
    random_selection,
    ratio_summary,
)
from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms


def test_prediction_errors_are_zero_for_the_labeller_and_exact_for_a_known_shift():
    frames = [bulk('Cu', 'fcc', a=3.6, cubic=True).repeat(2) for _ in range(2)]
    frames[1].rattle(0.05, seed=1)
    label_atoms(frames, 'emt')

    def exact(atoms):
        atoms = atoms.copy()
        atoms.calc = EMT()
        return atoms.get_potential_energy(), atoms.get_forces()

    assert prediction_errors(frames, exact) == pytest.approx(
        {'frames': 2, 'energy_rmse': 0, 'force_rmse': 0, 'force_p95': 0, 'force_max': 0}, abs=1e-9
    )

    def with_stress(atoms):
        energy, forces = exact(atoms)
        atoms = atoms.copy()
        atoms.calc = EMT()
        return energy, forces, atoms.get_stress() + 0.5 * units.GPa  # every component 0.5 GPa off

    assert prediction_errors(frames, with_stress)['stress_rmse'] == pytest.approx(0.5)

    def shifted(atoms):
        energy, forces = exact(atoms)
        forces = forces.copy()
        forces[0] += [0.3, 0.0, 0.4]  # one atom off by 0.5 eV/A
        return energy + 0.01 * len(atoms), forces

    errors = prediction_errors(frames, shifted)
    components = 2 * 32 * 3
    assert errors['energy_rmse'] == pytest.approx(10.0)
    assert errors['force_max'] == pytest.approx(500.0)
    assert errors['force_rmse'] == pytest.approx(1000 * np.sqrt(2 * (0.09 + 0.16) / components))


def test_gamma_selection_takes_the_highest_gamma_first_and_tops_up_to_the_same_count():
    rng = np.random.default_rng(0)
    descriptors = rng.normal(size=(20, 4))
    max_gamma = np.linspace(0.5, 2.4, 20)  # frames 15..19 reach 1.95
    eligible = np.ones(20, dtype=bool)
    eligible[19] = False  # the highest gamma has atoms too close
    chosen, above = gamma_selection(descriptors, max_gamma, 6, 1.95, eligible, seed=0)
    assert len(chosen) == 6 and len(set(chosen)) == 6
    assert above == 4 and chosen[0] == 18 and 19 not in chosen
    assert set(chosen[:4]) == {15, 16, 17, 18}
    picks = random_selection(6, eligible, seed=3)
    assert len(picks) == 6 and 19 not in picks
    assert picks == random_selection(6, eligible, seed=3) != random_selection(6, eligible, seed=4)


def test_labels_to_target_and_ratio_summary_report_not_reached_honestly():
    assert labels_to_target([10, 18, 26], [150.0, 119.0, 90.0], 120.0) == 18
    assert labels_to_target([10, 18], [150.0, 130.0], 120.0) is None
    # interpolated: 150 -> 110 between 10 and 18 labels crosses 120 at three quarters of the way
    assert labels_to_target([10, 18, 26], [150.0, 110.0, 90.0], 120.0, interpolate=True) == pytest.approx(16.0)
    assert labels_to_target([10, 18], [100.0, 90.0], 120.0, interpolate=True) == 10
    assert labels_to_target([10, 18], [150.0, 130.0], 120.0, interpolate=True) is None
    assert ratio_summary([0.5, None, 1.0, 0.75]) == {'median': 0.75, 'min': 0.5, 'max': 1.0, 'reached': 3, 'seeds': 4}
    assert ratio_summary([None])['median'] is None


def test_alloy_cell_has_the_composition_and_vegard_volume():
    atoms = alloy_cell({'Cu': 0.5, 'Au': 0.5}, 2, np.random.default_rng(1))
    assert len(atoms) == 32 and atoms.get_chemical_symbols().count('Au') == 16
    assert atoms.cell.lengths()[0] == pytest.approx(2 * (3.61 + 4.08) / 2)
