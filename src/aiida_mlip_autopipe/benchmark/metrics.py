"""Pure measures of the selection benchmark: errors on the held-out set, labels to a target, selection."""

from __future__ import annotations

import math

import numpy as np

from ..common.scoring import prediction_errors
from ..exploration.selection import select_frames

__all__ = ('gamma_selection', 'prediction_errors', 'random_selection')


def random_selection(count: int, eligible: np.ndarray, seed: int) -> list[int]:
    """Return ``count`` indices of eligible frames drawn uniformly without replacement (seeded)."""
    pool = np.flatnonzero(np.asarray(eligible, dtype=bool))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(pool, size=min(count, len(pool)), replace=False))


def gamma_selection(
    descriptors: np.ndarray, max_gamma: np.ndarray, count: int, gamma_lower: float, eligible: np.ndarray, seed: int
) -> tuple[list[int], int]:
    """Return ``count`` frames chosen as the campaign does (gamma above ``gamma_lower``, then diversity).

    When fewer than ``count`` frames reach ``gamma_lower``, the rest are chosen by the same
    gamma-then-diversity rule among the frames below it, so every strategy labels the same number
    per iteration. Returns the indices and how many came from above the threshold.
    """
    chosen, _ = select_frames(descriptors, max_gamma, count, gamma_lower, seed=seed, eligible=eligible)
    above = len(chosen)
    if len(chosen) < count:
        rest = np.asarray(eligible, dtype=bool).copy()
        rest[chosen] = False
        if rest.any():
            extra, _ = select_frames(descriptors, max_gamma, count - len(chosen), -np.inf, seed=seed, eligible=rest)
            chosen += extra
    return chosen, above


def labels_to_target(
    labels: list[int], force_rmse: list[float], target: float, interpolate: bool = False
) -> float | None:
    """Return the first label count whose force RMSE is at or below ``target``, or ``None``.

    ``interpolate``: the count where the straight line between the last point above ``target`` and
    the first at or below it crosses it (the curve is sampled once per round, so first-reach
    counts of two strategies are often equal even when one gets there sooner).
    """
    previous = None
    for count, value in zip(labels, force_rmse):
        if value <= target:
            if interpolate and previous is not None:
                count_before, value_before = previous
                return count_before + (count - count_before) * (value_before - target) / (value_before - value)
            return count
        previous = count, value
    return None


def ratio_summary(ratios: list[float | None]) -> dict:
    """Return median, min and max of the reached ratios, and how many seeds reached the target."""
    reached = [r for r in ratios if r is not None and math.isfinite(r)]
    if not reached:
        return {'median': None, 'min': None, 'max': None, 'reached': 0, 'seeds': len(ratios)}
    return {
        'median': float(np.median(reached)),
        'min': float(min(reached)),
        'max': float(max(reached)),
        'reached': len(reached),
        'seeds': len(ratios),
    }
