"""Pure measures of the selection benchmark: labels to reach a threshold, areas, paired bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.benchmark.metrics import (
    area_under_curve,
    bootstrap_ratio,
    labels_to_reach,
    pair_ratios,
    prediction_errors,
    wilson_interval,
)


def test_labels_to_reach_interpolates_and_requires_staying_below():
    labels = [0, 5, 10, 15, 20]
    # first below 100 between 5 (150) and 10 (50): crosses at 7.5; leaves again at 15 and comes back at 20
    values = [200.0, 150.0, 50.0, 120.0, 80.0]
    assert labels_to_reach(labels, values, 100.0, stay=False) == pytest.approx(7.5)
    assert labels_to_reach(labels, values, 100.0) == pytest.approx(15 + 5 * 20 / 40)
    assert labels_to_reach(labels, [90.0, 80.0, 70.0, 60.0, 50.0], 100.0) == 0
    assert labels_to_reach(labels, [200.0, 150.0, 50.0, 60.0, 120.0], 100.0) is None
    assert labels_to_reach(labels, [200.0] * 5, 100.0, stay=False) is None


def test_area_under_curve_is_the_mean_relative_error_over_labels():
    assert area_under_curve([0, 10], [2.0, 2.0], 2.0) == pytest.approx(1.0)
    assert area_under_curve([0, 5, 10], [3.0, 1.0, 1.0], 1.0) == pytest.approx((2 * 5 + 1 * 5) / 10)


def test_pair_ratios_divide_every_draw_and_floor_at_one_label():
    assert pair_ratios([10.0], [20.0, 40.0]).tolist() == [0.5, 0.25]
    assert sorted(pair_ratios([10.0, 20.0], [20.0, 40.0]).tolist()) == [0.25, 0.5, 0.5, 1.0]
    assert pair_ratios([0.0], [0.2]).tolist() == [1.0]  # both reached at the start set


def test_bootstrap_ratio_finds_a_clear_saving_and_no_difference_where_there_is_none():
    rng = np.random.default_rng(1)
    random = {seed: list(rng.normal(100, 10, size=20)) for seed in range(5)}
    better = {seed: [50.0 + seed] for seed in range(5)}
    same = {seed: list(rng.normal(100, 10, size=20)) for seed in range(5)}
    saving = bootstrap_ratio(better, random, samples=500)
    assert saving['high'] < 1 and saving['excludes_one'] and saving['pairs'] == 100
    assert saving['low'] <= saving['median'] <= saving['high']
    assert saving['median'] == pytest.approx(
        np.median(np.concatenate([pair_ratios(better[s], random[s]) for s in range(5)]))
    )
    neutral = bootstrap_ratio(same, random, samples=500)
    assert neutral['low'] < 1 < neutral['high'] and not neutral['excludes_one'] and neutral['pairs'] == 2000
    assert bootstrap_ratio(better, random, samples=500) == saving  # deterministic for a seed
    assert bootstrap_ratio({}, random)['seeds'] == 0


def test_wilson_interval_of_zero_and_all_failures():
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-3)
    assert wilson_interval(10, 10)[0] == pytest.approx(1 - 0.2775, abs=1e-3)


def test_prediction_errors_is_still_exported_for_the_benchmark():
    frames = [bulk('Cu', 'fcc', a=3.6, cubic=True)]
    frames[0].calc = EMT()
    frames[0].get_forces()

    def exact(atoms):
        copy = atoms.copy()
        copy.calc = EMT()
        return copy.get_potential_energy(), copy.get_forces()

    assert prediction_errors(frames, exact)['force_rmse'] == pytest.approx(0.0, abs=1e-9)


def test_verdict_needs_an_interval_on_one_side_of_one_and_three_seeds():
    from aiida_mlip_autopipe.benchmark.report import verdict

    def ratio(low, high, seeds=5):
        return {'median': (low + high) / 2, 'low': low, 'high': high, 'seeds': seeds}

    assert verdict(ratio(0.4, 0.9)) == 'saves labels'
    assert verdict(ratio(1.1, 2.0)) == 'needs more labels'
    assert verdict(ratio(0.8, 1.2)) == 'no difference shown'
    assert verdict(ratio(0.4, 0.9, seeds=2)) == 'too few seeds (2)'
