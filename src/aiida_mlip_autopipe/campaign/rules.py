"""Pure rules of the campaign loop: the temperature schedule, frame distances, convergence and budgets.

They take plain numbers (from exploration reports and fit metrics), so they can be studied and
benchmarked without running any code.
"""

from __future__ import annotations

import math

from ase.data import atomic_numbers, covalent_radii

#: Explored frames with two atoms closer than this fraction of twice the smallest covalent radius of
#: the campaign's elements are not sent to DFT (Cu: 1.85 A against a 2.55 A nearest neighbour).
FRAME_MIN_DISTANCE_FRACTION = 0.7


def frame_min_distance(elements, fraction: float = FRAME_MIN_DISTANCE_FRACTION) -> float:
    """Return the shortest interatomic distance (A) an explored frame may have to be labelled.

    MD with a poor early potential can push atoms together; one such frame (forces of tens of
    eV/A) can dominate a small training set and wreck the refit.
    """
    return round(fraction * 2 * min(covalent_radii[atomic_numbers[symbol]] for symbol in elements), 3)


def temperature_schedule(t_min: float, t_max: float, points: int, iteration: int, ramp_iterations: int) -> list[float]:
    """Return the MD temperatures (K) of exploration ``iteration`` (0-based).

    The highest temperature ramps linearly from ``t_min`` + one step to ``t_max``, reached at
    iteration ``ramp_iterations - 1`` and kept afterwards, so early potentials are not driven far
    outside what they know; ``points`` temperatures are spread evenly from ``t_min`` to that ceiling.
    """
    if t_max < t_min or points < 1 or ramp_iterations < 1 or iteration < 0:
        raise ValueError('need t_min <= t_max, points >= 1, ramp_iterations >= 1, iteration >= 0')
    ceiling = t_min + (t_max - t_min) * min(1.0, (iteration + 1) / ramp_iterations)
    if points == 1:
        return [round(ceiling, 1)]
    step = (ceiling - t_min) / (points - 1)
    return sorted({round(t_min + i * step, 1) for i in range(points)})


def convergence_verdict(
    high_gamma_fraction: float,
    force_rmse_mev_a: float,
    energy_rmse_mev_atom: float | None,
    targets,
) -> tuple[bool, str]:
    """Return whether the campaign has converged and why (or why not).

    Converged when the exploration found at most ``targets.high_gamma_fraction`` of its frames above
    the lower gamma threshold AND the test force RMSE meets ``targets.force_rmse_mev_a`` (and the
    energy RMSE its target, when one is set).
    """
    unmet = []
    if not high_gamma_fraction <= targets.high_gamma_fraction:
        unmet.append(f'high-gamma fraction {high_gamma_fraction:.3f} > {targets.high_gamma_fraction}')
    if not force_rmse_mev_a <= targets.force_rmse_mev_a:
        unmet.append(f'force RMSE {force_rmse_mev_a:.1f} > {targets.force_rmse_mev_a} meV/A')
    target_e = targets.energy_rmse_mev_atom
    if target_e is not None and not (energy_rmse_mev_atom is not None and energy_rmse_mev_atom <= target_e):
        unmet.append(f'energy RMSE {energy_rmse_mev_atom} > {target_e} meV/atom')
    if unmet:
        return False, 'not converged: ' + '; '.join(unmet)
    return True, (
        f'converged: high-gamma fraction {high_gamma_fraction:.3f} <= {targets.high_gamma_fraction}, '
        f'force RMSE {force_rmse_mev_a:.1f} <= {targets.force_rmse_mev_a} meV/A'
    )


def budget_verdict(iterations_done: int, dft_calculations: int, elapsed_hours: float, budgets) -> str | None:
    """Return which budget has run out, or ``None`` while all remain."""
    if iterations_done >= budgets.iterations:
        return f'iteration budget spent ({iterations_done} of {budgets.iterations})'
    if dft_calculations >= budgets.dft_calculations:
        return f'DFT budget spent ({dft_calculations} of {budgets.dft_calculations} calculations)'
    if elapsed_hours >= budgets.wall_time_hours:
        return f'wall-time budget spent ({elapsed_hours:.2f} of {budgets.wall_time_hours} h)'
    return None


def labels_allowed(requested: int, dft_calculations: int, budgets) -> int:
    """Return how many of ``requested`` labels still fit in the DFT budget."""
    return max(0, min(requested, budgets.dft_calculations - dft_calculations))


def best_iteration(force_rmses: list[float]) -> int:
    """Return the index of the potential to output: the last iteration with a finite test force RMSE.

    Each refit continues the previous potential on every label so far. Test errors of different
    iterations are not compared: they come from different, small held-out sets (one held-out
    perfect crystal, with zero forces, gives a test force RMSE near 0 for a poor potential).
    """
    finite = [index for index, value in enumerate(force_rmses) if not math.isnan(value)]
    if not finite:
        raise ValueError('no iteration has a finite force RMSE')
    return finite[-1]
