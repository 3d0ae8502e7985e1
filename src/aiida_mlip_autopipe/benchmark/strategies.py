"""Selection strategies of the benchmark: which unlabelled pool frames to label next.

- :func:`uniform_random`: uniformly at random among the unlabelled frames;
- :func:`stratified_random`: at random within strata (kind, composition, arrangement,
  temperature), the labels spread over the strata in proportion to the pool (largest deficit first);
- :func:`campaign_selection`: **the campaign's own rule, imported, not copied**: the extrapolation
  grade of every frame against the active set (``exploration.selection.frame_gamma``), the trust
  window and distance screen (``exploration.selection.screen_frames``) with the campaign
  protocol's thresholds, then the greedy D-optimal batch (``exploration.selection.select_frames_maxvol``).
  A change to any of them is measured by the next run;
- :func:`maxvol_selection`: plain D-optimal selection as ``pace_select`` does it: one MaxVol over the
  B-projections of the unlabelled frames' extrapolative atoms together with the active set, the
  frames owning the most rows of the new active set first.

When a rule finds fewer frames than asked (nothing left in the trust window, or the active set
already spans every frame), the rest of the batch is drawn uniformly at random among the frames
the rule would accept (below ``gamma_upper``, atoms not too close, for the campaign rule) and
counted as *top-ups*, so every strategy adds the same number of labels per round.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from unittest import mock

import numpy as np
from ase import Atoms

from .linear import MAXVOL_ITERATIONS, MAXVOL_TOLERANCE, Design, subset


def uniform_random(available: Sequence[int], count: int, rng: np.random.Generator) -> list[int]:
    """Return ``count`` frames of ``available`` drawn uniformly without replacement."""
    available = np.asarray(sorted(available), dtype=int)
    return [int(i) for i in rng.choice(available, size=min(count, len(available)), replace=False)]


def stratified_random(
    strata: Sequence[str], available: Sequence[int], added: Sequence[int], count: int, rng: np.random.Generator
) -> list[int]:
    """Return ``count`` frames of ``available`` so that all labels added follow the strata's shares of the pool.

    ``strata[i]`` is frame ``i``'s stratum; ``added`` are the frames added so far. Each pick goes to
    the stratum furthest below its share (ties at random), a frame of it drawn uniformly.
    """
    strata = np.asarray(strata)
    names, totals = np.unique(strata, return_counts=True)
    share = dict(zip(names, totals / totals.sum()))
    taken = Counter(strata[list(added)].tolist()) if len(added) else Counter()
    left: dict[str, list[int]] = {name: [] for name in names}
    for i in sorted(int(i) for i in available):
        left[strata[i]].append(i)
    chosen = []
    for _ in range(count):
        done = sum(taken.values()) + 1
        open_strata = [name for name in names if left[name]]
        if not open_strata:
            break
        deficit = np.array([done * share[name] - taken[name] for name in open_strata])
        best = [name for name, value in zip(open_strata, deficit) if value >= deficit.max() - 1e-12]
        name = best[int(rng.integers(len(best)))] if len(best) > 1 else best[0]
        frame = left[name].pop(int(rng.integers(len(left[name]))))
        chosen.append(frame)
        taken[name] += 1
    return chosen


@contextlib.contextmanager
def known_distances(frames: Sequence[Atoms], distances: Sequence[float]):
    """Let the campaign's ``screen_frames`` read each pool frame's shortest distance from ``distances``.

    The values were computed once with the same function (``common.geometry.min_interatomic_distance``)
    the screen calls; frames not in ``frames`` are measured as usual. Only a speed-up: 2000 neighbour
    lists per round would dominate the benchmark.
    """
    from ..exploration import selection

    original = selection.min_interatomic_distance
    table = {id(atoms): float(value) for atoms, value in zip(frames, distances)}

    def lookup(atoms):
        value = table.get(id(atoms))
        return original(atoms) if value is None else value

    with mock.patch.object(selection, 'min_interatomic_distance', lookup):
        yield


def campaign_selection(
    design: Design,
    frames: Sequence[Atoms],
    active: dict,
    available: Sequence[int],
    count: int,
    settings: dict,
) -> tuple[list[int], dict]:
    """Return the frames the campaign's rule labels next, and what it saw.

    ``settings`` are the campaign's selection settings (``SELECTION_DEFAULTS`` with the protocol's
    ``gamma_lower`` and ``gamma_upper``). The extrapolation grade of each ``available`` frame is
    computed against ``active`` and stored in ``frames[i].info['max_gamma']`` (what the MD would
    have reported), the trust window and distance screen pick the candidates and
    ``select_frames_maxvol`` the batch. The info has the candidate count and the frames below,
    inside and above the window.
    """
    from ..exploration.selection import frame_gamma, screen_frames, select_frames_maxvol

    available = sorted(int(i) for i in available)
    gamma = frame_gamma(design.projections, design.owners, active, design.size)
    for i in available:
        frames[i].info['max_gamma'] = float(gamma[i])
    local, _ = screen_frames([frames[i] for i in available], {**settings, 'max_selected': count})
    candidates = [available[j] for j in local]
    selected = []
    if candidates:
        selected, _ = select_frames_maxvol(
            design.projections,
            design.owners,
            active,
            candidates,
            max_selected=count,
            gamma_lower=float(settings['gamma_lower']),
            max_gamma=gamma,
        )
    window = gamma[available]
    info = {
        'candidates': len(candidates),
        'below_window': int(np.sum(window < settings['gamma_lower'])),
        'above_window': int(np.sum(window >= settings['gamma_upper'])),
        'max_gamma': float(window.max()) if len(window) else None,
    }
    return [int(i) for i in selected], info


def maxvol_selection(design: Design, active: dict, available: Sequence[int], count: int) -> tuple[list[int], dict]:
    """Return the frames ``pace_select`` would take: one MaxVol over the available frames' atoms and the active set.

    Only atoms the active set does not span (extrapolation grade above MaxVol's tolerance) can
    enlarge it; the others are left out first, as ``pace_select``'s batch mode does in its
    refinement stage (otherwise a near copy of an active-set row can win a tie against it). The
    active set's rows go first. Frames are ranked by how many rows of the new active set they own
    (ties: lower index first); frames owning none are never taken. The info has how many frames
    have extrapolative atoms and how many own rows.
    """
    from pyace.activelearning import compute_active_set

    rows, owners = subset(design.projections, design.owners, available)
    joint, joint_owners = {}, {}
    extrapolative = set()
    for species, values in rows.items():
        base = np.asarray(active[species], dtype=float)
        gamma = np.abs(values @ np.linalg.pinv(base)).max(axis=1) if len(values) else np.zeros(0)
        keep = gamma > MAXVOL_TOLERANCE
        extrapolative.update(int(i) for i in owners[species][keep])
        joint[species] = np.vstack([base, values[keep]])
        joint_owners[species] = np.concatenate([-np.ones(len(base)), owners[species][keep].astype(float)])
    if not extrapolative:
        return [], {'extrapolative_frames': 0, 'frames_with_rows': 0}
    _, new_owners = compute_active_set(joint, joint_owners, tol=MAXVOL_TOLERANCE, max_iters=MAXVOL_ITERATIONS)
    counts = Counter()
    for values in new_owners.values():
        counts.update(int(v) for v in np.asarray(values) if v >= 0)
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    return ranked[:count], {'extrapolative_frames': len(extrapolative), 'frames_with_rows': len(ranked)}


def acceptable_for_top_up(
    frames: Sequence[Atoms], available: Sequence[int], settings: dict | None, distances: Sequence[float]
) -> list[int]:
    """Return the ``available`` frames a top-up may draw from: all, or for the campaign rule those
    below ``gamma_upper`` with no atoms closer than ``min_distance``."""
    if settings is None:
        return list(available)
    return [
        i
        for i in available
        if frames[i].info.get('max_gamma', 0.0) < settings['gamma_upper'] and distances[i] >= settings['min_distance']
    ]
