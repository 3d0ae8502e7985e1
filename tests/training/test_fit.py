"""A real pacemaker fit through ``PacemakerWorkChain`` on 60 EMT-labelled Cu-Au cells."""

from __future__ import annotations

import numpy as np
import pytest
from aiida.engine import run_get_node

from aiida_mlip_autopipe.data import TrainingSet
from aiida_mlip_autopipe.training.workchain import PacemakerWorkChain


def test_real_fit(pacemaker_code, emt_cuau_frames):
    frames = emt_cuau_frames(60, 11)
    training_set = TrainingSet(frames=frames)
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code, training_set, protocol='fast', overrides={'pacemaker': {'parameters': {'test_size': 0.15}}}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    metrics = results['metrics'].get_dict()
    potential = results['potential']
    assert potential.elements == ['Au', 'Cu']
    assert potential.number_of_functions == metrics['number_of_functions'] == 32
    assert metrics['iterations'] == 60
    # before the first iteration the basis was at about 860 meV/A and 78 meV/atom on this set
    assert metrics['initial_train_force_rmse_mev_per_angstrom'] > 300.0
    assert metrics['test_force_rmse_mev_per_angstrom'] < 150.0
    assert metrics['train_force_rmse_mev_per_angstrom'] < 0.3 * metrics['initial_train_force_rmse_mev_per_angstrom']
    assert metrics['train_energy_rmse_mev_per_atom'] < 0.6 * metrics['initial_train_energy_rmse_mev_per_atom']
    assert metrics['test_energy_rmse_mev_per_atom'] < 60.0
    assert metrics['loss_per_iteration'][-1] < 0.2 * metrics['loss_per_iteration'][0]

    # the ASE calculator, evaluated here on every structure, agrees with the reported errors: the RMSE over
    # train + test lies between the reported train and test RMSE
    calculator = potential.get_calculator()
    energy_errors, force_errors = [], []
    for reference in frames:
        atoms = reference.copy()
        atoms.calc = calculator
        energy = atoms.get_potential_energy() + potential.reference_energy(atoms.get_chemical_symbols())
        energy_errors.append((energy - reference.get_potential_energy()) / len(atoms))
        force_errors.append(atoms.get_forces() - reference.get_forces())
        assert calculator.results['gamma'].shape == (len(atoms),)
    energy_rmse = 1000 * np.sqrt(np.mean(np.square(energy_errors)))
    force_rmse = 1000 * np.sqrt(np.mean(np.square(np.concatenate(force_errors))))
    reported_energy = sorted([metrics['train_energy_rmse_mev_per_atom'], metrics['test_energy_rmse_mev_per_atom']])
    reported_force = sorted([metrics['train_force_rmse_mev_per_angstrom'], metrics['test_force_rmse_mev_per_angstrom']])
    assert 0.95 * reported_energy[0] <= energy_rmse <= 1.05 * reported_energy[1]
    assert 0.95 * reported_force[0] <= force_rmse <= 1.05 * reported_force[1]
    print(
        'metrics', {key: value for key, value in metrics.items() if 'rmse' in key}, 'seconds', metrics['step_seconds']
    )


def test_refit_from_previous_potential(pacemaker_code, emt_cuau_frames, cuau_potential):
    """A refit starts from the previous potential's basis, coefficients and reference energies."""
    training_set = TrainingSet(frames=emt_cuau_frames(30, 23))
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code,
        training_set,
        protocol='fast',
        overrides={'pacemaker': {'parameters': {'maxiter': 5}}},
        previous_potential=cuau_potential.store(),
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    metrics = results['metrics'].get_dict()
    potential = results['potential']
    assert potential.number_of_functions == cuau_potential.number_of_functions == 48  # the previous basis
    assert potential.reference_energies == pytest.approx(cuau_potential.reference_energies)
    # the fit starts where the previous potential is (about 50 meV/A), not from a fresh basis (about 860)
    assert metrics['initial_train_force_rmse_mev_per_angstrom'] < 120.0
    assert metrics['train_force_rmse_mev_per_angstrom'] <= metrics['initial_train_force_rmse_mev_per_angstrom']
    assert np.isfinite(metrics['test_force_rmse_mev_per_angstrom'])
    assert potential.sha256 != cuau_potential.sha256


def lower_hull_distance(fractions, energies) -> np.ndarray:
    """Return each point's height (eV/atom) above the lower convex hull of (Au fraction, energy per atom) points.

    The hull at ``x`` is the highest line through two points of different fractions that no point lies below.
    """
    fractions, energies = np.asarray(fractions), np.asarray(energies)
    lines = []
    for i in range(len(fractions)):
        for j in range(len(fractions)):
            if fractions[i] < fractions[j]:
                slope = (energies[j] - energies[i]) / (fractions[j] - fractions[i])
                line = energies[i] + slope * (fractions - fractions[i])
                if np.all(energies >= line - 1e-12):
                    lines.append(line)
    return energies - np.max(lines, axis=0)


def test_weighted_fit_without_test_split(pacemaker_code, emt_cuau_frames):
    """Energy-based weights, a custom basis shape and no test split (the campaign scores on its own held-out set).

    The frames carry EMT stresses (stored in the training set; pacemaker 0.4 does not fit stresses).
    """
    frames = emt_cuau_frames(10, 31) + emt_cuau_frames(4, 32, max_strain=0.1, max_rattle=0.3)
    training_set = TrainingSet(frames=frames)
    assert np.isfinite(training_set.get_array('stresses')).all()
    de, df = 0.05, 1.0
    parameters = {
        'test_size': 0.0,
        'maxiter': 20,
        'number_of_functions_per_element': 30,
        'weighting': {'energy': 'convex_hull', 'de': de, 'df': df},
        'basis_shape': {'ALL': {'nradmax_by_orders': [6], 'lmax_by_orders': [0]}},
    }
    builder = PacemakerWorkChain.get_builder_from_protocol(
        pacemaker_code, training_set, protocol='fast', overrides={'pacemaker': {'parameters': parameters}}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    metrics = results['metrics'].get_dict()
    potential = results['potential']

    # no test split: every structure fitted, none left out, no test_* metric
    assert [key for key in metrics if key.startswith('test_')] == []
    assert metrics['fit_structure_count'] == len(frames)
    assert metrics['dropped_structures'] == []
    assert metrics['step_exit_status'] == {'pacemaker': 0, 'pace_yaml2yace': 0, 'pace_activeset': 0}
    assert potential.has_file('asi')

    # the weights pacemaker used are those of the policy, computed here from the frames
    fractions = [frame.get_chemical_symbols().count('Au') / len(frame) for frame in frames]
    per_atom = [frame.get_potential_energy() / len(frame) for frame in frames]
    energy_weights = 1.0 / (lower_hull_distance(fractions, per_atom) + de) ** 2
    force_weights = np.concatenate(
        [weight / (np.sum(frame.get_forces() ** 2, axis=1) + df) for weight, frame in zip(energy_weights, frames)]
    )
    assert metrics['energy_weight_spread'] == pytest.approx(energy_weights.max() / energy_weights.min(), rel=1e-6)
    assert metrics['force_weight_spread'] == pytest.approx(force_weights.max() / force_weights.min(), rel=1e-6)
    assert metrics['energy_weight_spread'] > 2.0  # the hot, strained frames weigh visibly less

    # the basis shape reached pacemaker: pair functions only, 6 per neighbour species, fewer than asked for
    assert potential.number_of_functions == metrics['number_of_functions'] == 6 * 2 * 2
    assert metrics['iterations'] == 20
    assert np.isfinite(metrics['train_force_rmse_mev_per_angstrom'])
    calculator = potential.get_calculator()
    for frame in frames[-4:]:
        atoms = frame.copy()
        atoms.calc = calculator
        assert np.isfinite(atoms.get_potential_energy())
        assert np.isfinite(atoms.get_forces()).all()
    print('metrics', {key: value for key, value in metrics.items() if 'rmse' in key or 'spread' in key})
