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
    idle_exploration_streak,
    labels_allowed,
    refit_ships,
    split_held_out,
    structure_kind,
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


POINTS = [{'Cu': 1.0, 'Au': 0.0}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.0, 'Au': 1.0}]


def good_row(iteration: int, **changes) -> dict:
    """An iteration that meets every criterion: T_max and every composition reached, no halt, low errors."""
    row = {
        'iteration': iteration,
        'runs_total': 6,
        'runs_halted': 0,
        'runs_failed': 0,
        'high_gamma_fraction': 0.01,
        'temperature_explored': 1200.0,
        'compositions_explored': [{'Cu': 1.0}, {'Au': 0.5, 'Cu': 0.5}, {'Au': 1.0}],
        'heldout_force_rmse': 80.0,
        'heldout_energy_rmse': 5.0,
    }
    row.update(changes)
    return row


def verdict(rows, targets=TARGETS):
    return convergence_verdict(rows, targets, 1200.0, POINTS)


def test_two_good_iterations_in_a_row_converge():
    converged, reason, criteria = verdict([good_row(0), good_row(1)])
    assert converged and reason.startswith('converged: all criteria met in 2 consecutive iterations')
    assert [item['name'] for item in criteria] == [
        'temperature',
        'compositions',
        'runs_halted',
        'high_gamma_fraction',
        'force_rmse',
        'energy_rmse',
    ]
    assert all(item['met'] for item in criteria)


def test_one_good_iteration_is_not_enough_with_consecutive_two():
    converged, reason, _ = verdict([good_row(0, heldout_force_rmse=300.0), good_row(1)])
    assert not converged and 'in 1 consecutive iteration(s) of 2' in reason
    assert verdict([good_row(0)], TARGETS.model_copy(update={'consecutive': 1}))[0]


def test_a_halted_run_among_clean_runs_is_not_converged():
    """One run halted after a few samples: its own fraction is high, and the halt alone fails the rule."""
    rows = [good_row(0), good_row(1, runs_halted=1, high_gamma_fraction=0.6)]
    converged, _, criteria = verdict(rows)
    assert not converged
    unmet = {item['name'] for item in criteria if not item['met']}
    assert unmet == {'runs_halted', 'high_gamma_fraction'}
    assert not verdict([good_row(0), good_row(1, runs_failed=1)])[0]


def test_a_ceiling_below_t_max_is_not_converged():
    converged, reason, criteria = verdict(
        [good_row(0, temperature_explored=900.0), good_row(1, temperature_explored=900.0)]
    )
    assert not converged and 'temperature' in reason
    assert criteria[0] == {'name': 'temperature', 'met': False, 'value': 900.0, 'target': 1200.0}


def test_a_composition_left_out_is_not_converged():
    rows = [good_row(i, compositions_explored=[{'Cu': 1.0}, {'Au': 1.0}]) for i in range(2)]
    converged, _, criteria = verdict(rows)
    assert not converged
    assert criteria[1] == {'name': 'compositions', 'met': False, 'value': 2, 'target': 3}
    near = [
        good_row(i, compositions_explored=[{'Cu': 1.0}, {'Cu': 0.4375, 'Au': 0.5625}, {'Au': 1.0}]) for i in range(2)
    ]
    assert verdict(near)[0]  # a 7/16 cell stands for the 0.5 point


def test_held_out_errors_must_meet_the_targets():
    assert not verdict([good_row(0), good_row(1, heldout_force_rmse=120.0)])[0]
    assert not verdict([good_row(0), good_row(1, heldout_energy_rmse=11.0)])[0]
    assert not verdict([good_row(0), good_row(1, heldout_force_rmse=math.nan)])[0]
    no_energy_target = TARGETS.model_copy(update={'energy_rmse_mev_atom': None})
    assert verdict([good_row(0), good_row(1, heldout_energy_rmse=None)], no_energy_target)[0]
    assert not verdict([{'iteration': 0}])[0]  # nothing explored


def test_an_iteration_that_fitted_nothing_is_judged_by_the_potential_it_explored_with():
    """An exploration that selects no frame leaves the potential as it was: its held-out errors carry on."""
    fitted = good_row(0, potential_pk=11)
    unchanged = {key: value for key, value in good_row(1).items() if not key.startswith('heldout')}
    converged, reason, criteria = verdict([fitted, unchanged])
    assert converged, reason
    assert {item['name']: item['value'] for item in criteria}['force_rmse'] == 80.0
    # the errors are those of the last potential fitted, not of an earlier one
    worse = good_row(1, potential_pk=12, heldout_force_rmse=120.0)
    assert not verdict([fitted, worse, {**unchanged, 'iteration': 2}])[0]
    # a fit that could not be scored is not given an earlier potential's errors
    unscored = {**unchanged, 'potential_pk': 13}
    assert 'force_rmse' in verdict([fitted, unscored])[1]


def test_budgets():
    assert budget_verdict(1, 10, 0.5, BUDGETS) is None
    assert budget_verdict(4, 10, 0.5, BUDGETS) == 'iteration budget spent (4 of 4)'
    assert budget_verdict(1, 50, 0.5, BUDGETS) == 'DFT budget spent (50 of 50 calculations)'
    assert budget_verdict(1, 10, 2.5, BUDGETS).startswith('wall-time budget spent')
    assert labels_allowed(8, 45, BUDGETS) == 5
    assert labels_allowed(8, 60, BUDGETS) == 0


def test_idle_explorations_stop_the_loop():
    """Explorations that select nothing leave the potential as it was: the second in a row (default) stops."""
    rows = [{'state': 'refit'}, {'state': 'explore'}]
    assert idle_exploration_streak(rows) == 1
    assert budget_verdict(2, 10, 0.5, BUDGETS, idle_exploration_streak(rows)) is None
    rows.append({'state': 'explore'})
    assert idle_exploration_streak(rows) == 2
    reason = budget_verdict(3, 10, 0.5, BUDGETS, idle_exploration_streak(rows))
    assert reason.startswith('2 explorations in a row selected nothing'), reason
    # a refit in between starts the count again
    assert idle_exploration_streak([{'state': 'explore'}, {'state': 'refit'}, {'state': 'explore'}]) == 1
    assert budget_verdict(3, 10, 0.5, BUDGETS.model_copy(update={'idle_explorations': 3}), 2) is None


def test_the_lower_held_out_error_ships_even_when_it_is_not_the_last():
    rows = [good_row(0), good_row(1), {'iteration': 2}]  # the last fit was never explored
    iteration, reason = best_iteration(rows, {0: 150.0, 1: 90.0, 2: 120.0})
    assert iteration == 1 and 'iteration 1, 90.0 meV/A' in reason
    # a potential whose exploration halted loses to a stable one even with a lower error
    rows = [good_row(0), good_row(1, runs_halted=2), {'iteration': 2}]
    assert best_iteration(rows, {0: 150.0, 1: 90.0, 2: 60.0})[0] == 0
    # every exploration halted (or none ran): the lowest error overall
    rows = [good_row(0, runs_halted=1), {'iteration': 1}]
    iteration, reason = best_iteration(rows, {0: 150.0, 1: 90.0})
    assert iteration == 1 and reason.startswith('lowest held-out force RMSE (every exploration')
    assert best_iteration([good_row(0), good_row(1)], {0: 90.0, 1: 90.0})[0] == 1  # ties: more data
    assert best_iteration([good_row(0)], {0: math.nan, 1: 80.0})[0] == 1
    with pytest.raises(ValueError):
        best_iteration([good_row(0)], {0: math.nan})


def test_final_refit_ships_when_its_own_md_did_not_halt_and_it_is_lower_or_within_the_targets():
    stable = {'runs_total': 15, 'runs_halted': 0, 'runs_failed': 0}
    targets = Targets(force_rmse_mev_a=50.0, energy_rmse_mev_atom=5.0, high_gamma_fraction=0.05)
    ships, reason = refit_ships({'force_rmse': 9.9, 'energy_rmse': 9.0}, 11.4, stable, targets)
    assert ships and '9.9 meV/A, its exploration 15 runs without a halt' in reason
    # lower held-out error, but one run of its MD halted (or failed, or it never ran MD): not shipped
    assert refit_ships({'force_rmse': 9.9}, 11.4, stable | {'runs_halted': 1}, targets) == (
        False,
        'final refit (9.9 meV/A) not shipped: its exploration had 1 halted and 0 failed runs of 15',
    )
    assert not refit_ships({'force_rmse': 9.9}, 11.4, stable | {'runs_failed': 2}, targets)[0]
    assert not refit_ships({'force_rmse': 9.9}, 11.4, None, targets)[0]
    assert not refit_ships({'force_rmse': 9.9}, 11.4, {'runs_total': 0}, targets)[0]
    # not below the best iteration's, but within the campaign's targets: the production fit ships
    ships, reason = refit_ships({'force_rmse': 45.0, 'energy_rmse': 1.5}, 40.0, stable, targets)
    assert ships and 'within the targets' in reason
    assert refit_ships({'force_rmse': 45.0, 'energy_rmse': 1.5}, 40.0, stable | {'runs_halted': 1}, targets)[0] is False
    # neither below it nor within a target: the force, or the energy (also when the energy was not scored)
    ships, reason = refit_ships({'force_rmse': 55.0, 'energy_rmse': 1.5}, 40.0, stable, targets)
    assert not ships and 'force 55.0 > 50 meV/A' in reason
    ships, reason = refit_ships({'force_rmse': 45.0, 'energy_rmse': 6.0}, 40.0, stable, targets)
    assert not ships and 'energy 6.0 > 5 meV/atom' in reason
    assert not refit_ships({'force_rmse': 45.0}, 40.0, stable, targets)[0]
    assert refit_ships({'force_rmse': 45.0}, 40.0, stable, targets.model_copy(update={'energy_rmse_mev_atom': None}))[0]
    # not scored
    assert not refit_ships({'force_rmse': math.nan}, 11.4, stable, targets)[0]
    assert not refit_ships(None, 11.4, stable, targets)[0]


def test_held_out_split_is_stratified_seeded_and_keeps_every_kind():
    strata = {f'rattle_{i:03d}': ('rattle', 'Cu1', 'static') for i in range(6)}
    strata.update({f'strain_{i:03d}': ('strain', 'Au1', 'static') for i in range(6)})
    strata.update({f'bulk_{i:03d}': ('bulk', 'Cu1', 'static') for i in range(2)})
    held = split_held_out(strata, 0.15, set(), seed=1)
    kinds = sorted(key.split('_')[0] for key in held)
    assert kinds == ['rattle', 'strain']  # one of each kind of three or more; two bulk cells stay for training
    assert held == split_held_out(dict(reversed(strata.items())), 0.15, set(), seed=1)  # deterministic
    # kinds already held out are not forced again; the share follows the fraction
    assert len(split_held_out(strata, 0.15, {'rattle', 'strain'}, seed=1)) == 2
    assert len(split_held_out(strata, 0.45, {'rattle', 'strain'}, seed=1)) == 6
    explored = {
        f'it01_run_00{i}_step{i:08d}': ('explored', 'Cu0.5', str(t)) for i, t in enumerate([300, 300, 900, 900])
    }
    held = split_held_out(explored, 0.25, {'explored'}, seed=0)
    assert len(held) == 1
    assert split_held_out({'bulk_000': ('bulk', 'Cu1', 'static')}, 0.5, set(), seed=0) == []  # never a lone label
    compressed = {f'compressed_{i:03d}': ('compressed', 'Cu1', 'static') for i in range(9)}
    assert split_held_out({**strata, **compressed}, 0.3, set(), seed=1) == split_held_out(strata, 0.3, set(), seed=1)
    assert structure_kind('it03_run_002_step00000450') == 'explored' and structure_kind('sqs_001') == 'sqs'


def test_small_batches_keep_the_held_out_share_of_all_labels_not_half_of_each_batch():
    """Batches of two frames (one per MD run) must not give one of their two labels away each time."""
    first = {f'rattle_{i:03d}': ('rattle', 'Si1', 'static') for i in range(20)}
    held = split_held_out(first, 0.15, set(), seed=0)
    labels, held_count, per_batch = len(first), len(held), []
    assert held_count == 3
    for iteration in range(1, 11):
        batch = {
            f'it{iteration:02d}_run_00{run}_step00000010': ('explored', 'Si1', str(t))
            for run, t in ((0, 300), (1, 900))
        }
        chosen = split_held_out(batch, 0.15, {'rattle'}, seed=iteration, labels_before=labels, held_before=held_count)
        per_batch.append(len(chosen))
        labels, held_count = labels + len(batch), held_count + len(chosen)
    assert held_count == round(0.15 * labels) == 6  # 15 % of all 40 labels, not 3 + 10
    assert max(per_batch) == 1 and per_batch.count(0) == 7
    # an empty held-out set always gets one, and a batch never gives its last label
    pair = {
        'it01_run_000_step00000010': ('explored', 'Si1', '300'),
        'it01_run_001_step00000010': ('explored', 'Si1', '900'),
    }
    assert len(split_held_out(pair, 0.15, set(), seed=0, labels_before=40, held_before=0)) == 1


def test_frame_min_distance_keeps_crushed_frames_from_dft():
    assert frame_min_distance(['Cu', 'Au']) == pytest.approx(1.848)  # 0.7 x 2 x 1.32 A
    assert frame_min_distance(['Al']) == pytest.approx(1.694)
    assert 1.56 < frame_min_distance(['Cu'])  # the Cu8 frame (31.7 eV/A) that wrecked a demo refit
