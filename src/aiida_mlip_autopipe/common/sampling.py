"""Farthest-point sampling of descriptor vectors, shared by surrogate screening and exploration."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .duplicates import euclidean_distances


def farthest_point_sampling(
    descriptors: np.ndarray,
    count: int,
    seed: int = 0,
    first: int | None = None,
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray] = euclidean_distances,
) -> tuple[list[int], np.ndarray]:
    """Select ``count`` rows of ``descriptors`` that are spread out, by greedy farthest-point sampling.

    The first row is ``first``, or drawn with ``numpy.random.default_rng(seed)`` when ``first`` is
    None; each next row is the unselected one whose distance to the nearest selected row is largest
    (ties go to the lowest index). The result depends only on the descriptors, ``count``, ``seed``
    and ``first``.

    Parameters
    ----------
    descriptors
        One descriptor vector per row (a 2-d array).
    count
        How many rows to select (at most all of them).
    seed
        Seed of the first pick when ``first`` is None.
    first
        Index of the first pick (e.g. the most uncertain row).
    distance
        ``distance(rows, row)`` -> the distance of each of ``rows`` to ``row`` (Euclidean by default).

    Returns
    -------
    selected
        Indices of the selected rows, in the order they were picked.
    distances
        For every row, its distance to the nearest selected row (0 for selected rows).
    """
    descriptors = np.asarray(descriptors, dtype=float)
    if descriptors.ndim != 2:
        raise ValueError(f'descriptors must be a 2-d array, got shape {descriptors.shape}')
    total = len(descriptors)
    if count < 0:
        raise ValueError(f'`count`: {count} is not allowed; give 0 or more')
    count = min(count, total)
    if count == 0:
        return [], np.full(total, np.inf)
    if first is None:
        first = int(np.random.default_rng(seed).integers(total))
    selected = [int(first)]
    distances = distance(descriptors, descriptors[first])
    while len(selected) < count:
        remaining = distances.copy()
        remaining[selected] = -np.inf
        candidate = int(np.argmax(remaining))  # argmax returns the lowest index among ties
        selected.append(candidate)
        distances = np.minimum(distances, distance(descriptors, descriptors[candidate]))
    distances[selected] = 0.0
    return selected, distances
