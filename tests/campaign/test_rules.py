"""Schedule, stop rules and budgets as pure functions."""

from __future__ import annotations

import math

import pytest

from aiida_mlip_autopipe.campaign.config import Budgets, Targets
from aiida_mlip_autopipe.campaign.rules import (
    best_iteration,
    budget_verdict,
    convergence_verdict,
    frame_min_distance,
    labels_allowed,
    temperature_schedule,
)

TARGETS = Targets(force_rmse_mev_a=100.0, energy_rmse_mev_atom=10.0, high_gamma_fraction=0.05)
BUDGETS = Budgets(iterations=4, dft_calculations=50, wall_time_hours=2.0)


def test_schedule_ramps_to_the_top_and_stays():
    assert temperature_schedule(300, 1200, 3, 0, 3) == [300.0, 450.0, 600.0]
    assert temperature_schedule(300, 1200, 3, 1, 3) == [300.0, 600.0, 900.0]
    assert temperature_schedule(300, 1200, 3, 2, 3) == [300.0, 750.0, 1200.0]
    assert temperature_schedule(300, 1200, 3, 7, 3) == [300.0, 750.0, 1200.0]
    assert temperature_schedule(500, 500, 3, 0, 1) == [500.0]
    assert temperature_schedule(300, 1200, 1, 0, 2) == [750.0]
    with pytest.raises(ValueError):
        temperature_schedule(900, 300, 3, 0, 1)


def test_convergence_needs_both_gamma_and_force_targets():
    assert convergence_verdict(0.01, 80.0, 5.0, TARGETS)[0]
    converged, reason = convergence_verdict(0.20, 80.0, 5.0, TARGETS)
    assert not converged and 'high-gamma fraction 0.200 > 0.05' in reason
    converged, reason = convergence_verdict(0.01, 120.0, 5.0, TARGETS)
    assert not converged and 'force RMSE 120.0 > 100.0 meV/A' in reason
    assert not convergence_verdict(0.01, 80.0, 11.0, TARGETS)[0]
    assert not convergence_verdict(0.01, math.nan, 5.0, TARGETS)[0]
    no_energy_target = TARGETS.model_copy(update={'energy_rmse_mev_atom': None})
    assert convergence_verdict(0.0, 80.0, None, no_energy_target)[0]


def test_budgets():
    assert budget_verdict(1, 10, 0.5, BUDGETS) is None
    assert budget_verdict(4, 10, 0.5, BUDGETS) == 'iteration budget spent (4 of 4)'
    assert budget_verdict(1, 50, 0.5, BUDGETS) == 'DFT budget spent (50 of 50 calculations)'
    assert budget_verdict(1, 10, 2.5, BUDGETS).startswith('wall-time budget spent')
    assert labels_allowed(8, 45, BUDGETS) == 5
    assert labels_allowed(8, 60, BUDGETS) == 0


def test_best_iteration_is_the_last_finite_fit():
    assert best_iteration([120.0, math.nan, 90.0, 95.0]) == 3
    assert best_iteration([0.001, 745.0, 163.0, math.nan]) == 2  # a near-zero error of a tiny test set never wins
    with pytest.raises(ValueError):
        best_iteration([math.nan])


def test_frame_min_distance_keeps_crushed_frames_from_dft():
    assert frame_min_distance(['Cu', 'Au']) == pytest.approx(1.848)  # 0.7 x 2 x 1.32 A
    assert frame_min_distance(['Al']) == pytest.approx(1.694)
    assert 1.56 < frame_min_distance(['Cu'])  # the Cu8 frame (31.7 eV/A) that wrecked a demo refit
