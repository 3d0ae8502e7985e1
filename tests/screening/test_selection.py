"""Pure helpers of screening: filters, duplicates and farthest-point sampling (no profile, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlip_autopipe.common.sampling import farthest_point_sampling
from aiida_mlip_autopipe.screening.selection import (
    ScreeningThresholds,
    duplicate_groups,
    energy_window_reasons,
    max_force,
    reduced_formula,
    screen,
)


def test_farthest_point_sampling_picks_the_extremes_and_is_seeded():
    points = np.array([[0.0], [1.0], [2.0], [10.0], [4.0]])
    first = int(np.random.default_rng(3).integers(len(points)))
    selected, distances = farthest_point_sampling(points, 3, seed=3)
    assert selected[0] == first
    assert selected == farthest_point_sampling(points, 3, seed=3)[0]
    # from any start the farthest point of the set is 10 or 0
    assert {0, 3} <= set(selected)
    assert all(distances[index] == 0 for index in selected)
    for index in set(range(len(points))) - set(selected):
        assert distances[index] == pytest.approx(min(abs(points[index, 0] - points[s, 0]) for s in selected))


def test_farthest_point_sampling_prefix_property_and_limits():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 5))
    five, _ = farthest_point_sampling(points, 5, seed=11)
    eight, _ = farthest_point_sampling(points, 8, seed=11)
    assert eight[:5] == five
    assert len(set(eight)) == 8
    assert sorted(farthest_point_sampling(points, 100, seed=1)[0]) == list(range(30))
    assert farthest_point_sampling(points, 0)[0] == []
    with pytest.raises(ValueError, match='count'):
        farthest_point_sampling(points, -1)


def test_max_force_and_formula():
    forces = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    assert max_force(forces) == pytest.approx(5.0)
    assert max_force(np.array([[np.nan, 0, 0]])) == np.inf
    atoms = bulk('Cu', 'fcc', a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.symbols[[0, 4]] = 'Au'
    assert reduced_formula(atoms) == 'AuCu3'


def test_energy_window_compares_within_a_composition_only():
    energies = {'a': -4.0, 'b': -3.5, 'c': -2.0, 'd': -3.9}
    formulas = {'a': 'Cu', 'b': 'Cu', 'c': 'Au', 'd': 'Cu'}
    reasons = energy_window_reasons(energies, formulas, window=0.3)
    assert set(reasons) == {'b'}
    assert '0.500 eV/atom above the lowest Cu candidate `a`' in reasons['b']


def test_duplicates_need_the_same_formula():
    keys = ['a', 'b', 'c', 'd']
    descriptors = np.array([[0.0, 0.0], [0.0, 1e-5], [0.0, 2e-5], [5.0, 5.0]])
    formulas = {'a': 'Cu', 'b': 'Cu', 'c': 'Au', 'd': 'Cu'}
    duplicates = duplicate_groups(keys, descriptors, formulas, tolerance=1e-3)
    assert set(duplicates) == {'b'}
    assert duplicates['b'][0] == 'a'
    assert duplicates['b'][1] == pytest.approx(1e-5)


def test_thresholds_refuse_negative_values():
    with pytest.raises(ValueError, match='`max_force`'):
        ScreeningThresholds(max_force=-1.0)


def _labelled(atoms, energy, forces):
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def test_screen_orders_the_filters():
    cu = bulk('Cu', 'fcc', a=3.6, cubic=True)
    zero = np.zeros((4, 3))
    close = cu.copy()
    close.positions[1] = close.positions[0] + [1.0, 0.0, 0.0]
    hot = np.zeros((4, 3))
    hot[0, 0] = 30.0
    frames = {
        'ok': _labelled(cu.copy(), -16.0, zero),
        'close': _labelled(close, -10.0, zero),
        'hot': _labelled(cu.copy(), -15.9, hot),
        'high': _labelled(cu.copy(), -8.0, zero),
        'twin': _labelled(cu.copy(), -16.0, zero),
        'other': _labelled(cu.copy(), -15.8, zero),
    }
    descriptors = {'ok': [0.0], 'close': [1.0], 'hot': [2.0], 'high': [3.0], 'twin': [0.0], 'other': [0.5]}
    result = screen(frames, descriptors, ScreeningThresholds(), count=1, seed=0, failures={'gone': 'boom'})
    assert result.rejected['gone'] == 'surrogate failed: boom'
    assert 'closer than the minimum distance' in result.rejected['close']
    assert 'maximum surrogate force 30.000 eV/A' in result.rejected['hot']
    assert 'eV/atom above the lowest Cu candidate `ok`' in result.rejected['high']
    assert result.rejected['twin'].startswith('duplicate of `ok`')
    assert len(result.selected) == 1
    (left,) = {'ok', 'other'} - set(result.selected)
    assert result.rejected[left].startswith('not selected: farthest-point sampling kept 1 of 2')
    assert set(result.rejected) | set(result.selected) == set(frames) | {'gone'}
    assert result.metrics['close']['min_distance'] == pytest.approx(1.0)
    assert result.metrics['hot']['max_force'] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ('parameters', 'message'),
    [
        ({'relax': True, 'steps': 5}, None),
        ({'temperature': 300}, '`parameters`: unknown keys temperature'),
        ({'model_name': '0.4.0'}, '`parameters.model_name`: `0.4.0` is not shipped; allowed: 0.3.0, 0.2.0'),
        ({'relax': 'yes'}, '`parameters.relax`: give true or false'),
        ({'fmax': 0}, '`parameters.fmax`: 0 is not allowed'),
        ({'steps': -1}, '`parameters.steps`: -1 is not allowed'),
        ({'threads': 0}, '`parameters.threads`: 0 is not allowed'),
    ],
)
def test_surrogate_parameters_are_checked(parameters, message):
    from aiida_mlip_autopipe.screening.calculations import parameters_error

    error = parameters_error(parameters)
    assert error == message if message is None else error.startswith(message)
