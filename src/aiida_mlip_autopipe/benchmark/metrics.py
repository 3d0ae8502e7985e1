"""Pure measures of the selection benchmark: labels to reach a threshold, areas, paired bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..common.scoring import prediction_errors

__all__ = (
    'area_under_curve',
    'bootstrap_ratio',
    'labels_to_reach',
    'pair_ratios',
    'prediction_errors',
    'wilson_interval',
)


def labels_to_reach(
    labels: Sequence[float], values: Sequence[float], threshold: float, stay: bool = True
) -> float | None:
    """Return the labels at which the learning curve ``values(labels)`` reaches ``threshold``, or ``None``.

    ``stay`` (default): the point from which the curve stays at or below ``threshold`` up to its
    last round; otherwise the first point at or below it. Between two rounds the crossing is
    interpolated linearly. ``None`` when the last round (``stay``) or no round is below the threshold.
    """
    labels = np.asarray(labels, dtype=float)
    values = np.asarray(values, dtype=float)
    below = np.isfinite(values) & (values <= threshold)
    if stay:
        if not below[-1]:
            return None
        above = np.flatnonzero(~below)
        if not len(above):
            return float(labels[0])
        first = int(above[-1]) + 1
    else:
        hits = np.flatnonzero(below)
        if not len(hits):
            return None
        first = int(hits[0])
        if first == 0:
            return float(labels[0])
    before, after = values[first - 1], values[first]
    if not np.isfinite(before) or before == after:
        return float(labels[first])
    fraction = (before - threshold) / (before - after)
    return float(labels[first - 1] + fraction * (labels[first] - labels[first - 1]))


def area_under_curve(labels: Sequence[float], values: Sequence[float], reference: float) -> float:
    """Return the mean of ``values / reference`` over the label axis (trapezoids): 1 is the reference all along."""
    labels = np.asarray(labels, dtype=float)
    values = np.asarray(values, dtype=float) / reference
    if len(labels) < 2 or labels[-1] == labels[0]:
        return float(values[0])
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(labels)) / (labels[-1] - labels[0]))


def pair_ratios(numerator: Sequence[float], denominator: Sequence[float], floor: float = 1.0) -> np.ndarray:
    """Return every ratio of a strategy's value to random's within one seed (all draws against all draws).

    A deterministic strategy has one value, divided by each random draw; two randomised strategies
    give every pair of draws (the draws are independent). Values are floored at ``floor`` so that a
    curve that starts below the threshold (0 labels) gives a finite ratio.
    """
    numerator = np.maximum(np.asarray(numerator, dtype=float), floor)
    denominator = np.maximum(np.asarray(denominator, dtype=float), floor)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.ravel(numerator[:, None] / denominator[None, :])


def bootstrap_ratio(
    numerator: dict, denominator: dict, samples: int = 2000, seed: int = 0, floor: float = 1.0
) -> dict[str, float]:
    """Return the median ratio numerator/denominator over seeds and draws and its bootstrap 95 % interval.

    ``numerator`` and ``denominator`` map a seed to the values of its draws; ratios are formed
    within a seed only (paired by seed, :func:`pair_ratios`). Each bootstrap sample draws the
    seeds with replacement and, within each drawn seed, each strategy's draws with replacement (a
    two-level bootstrap over seeds and draws); the interval is the 2.5th-97.5th percentile of the
    samples' medians. ``excludes_one`` says whether the interval lies entirely on one side of 1.
    """
    seeds = sorted(set(numerator) & set(denominator))
    if not seeds:
        return {'median': math.nan, 'low': math.nan, 'high': math.nan, 'seeds': 0, 'pairs': 0, 'excludes_one': False}
    tops = [np.asarray(numerator[s], dtype=float) for s in seeds]
    bottoms = [np.asarray(denominator[s], dtype=float) for s in seeds]
    rng = np.random.default_rng(seed)
    medians = np.empty(samples)
    for k in range(samples):
        pooled = []
        for i in rng.integers(len(seeds), size=len(seeds)):
            top, bottom = tops[i], bottoms[i]
            pooled.append(
                pair_ratios(
                    top[rng.integers(len(top), size=len(top))],
                    bottom[rng.integers(len(bottom), size=len(bottom))],
                    floor,
                )
            )
        medians[k] = np.median(np.concatenate(pooled))
    low, high = (float(v) for v in np.percentile(medians, [2.5, 97.5]))
    everything = np.concatenate([pair_ratios(top, bottom, floor) for top, bottom in zip(tops, bottoms)])
    return {
        'median': float(np.median(everything)),
        'low': low,
        'high': high,
        'seeds': len(seeds),
        'pairs': len(everything),
        'excludes_one': bool(high < 1.0 or low > 1.0),
    }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score 95 % interval of a proportion ``successes / trials``."""
    if trials == 0:
        return (math.nan, math.nan)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))
