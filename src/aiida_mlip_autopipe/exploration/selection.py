"""Pure selection of the explored frames to label next: by gamma and diversity, without near duplicates.

Frames are kept whole (the periodic MD cell is what the labelling computes): exploration cells
are small (tens to a few hundred atoms), periodic DFT on the same cell matches the periodic
training frames, and cutting a local cluster around the high-gamma atom would need vacuum
padding or a non-periodic reference that the rest of the training set does not have.

Each frame is described by the ACE B-basis projections of its atoms (pyace's
``compute_B_projections`` on the current potential: the same features gamma is built on), pooled
per element into a mean and a standard deviation. The descriptors are standardised over the
candidates; distances are root-mean-square over the features. Selection is farthest-point sampling
that starts from the frame with the largest gamma, after removing near duplicates (a frame closer
than ``duplicate_tolerance`` to a frame of higher gamma) and frames with atoms closer than
``min_distance``. Deterministic: ties break by gamma then by index; ``seed`` only decides which
frames are kept when more than ``max_candidates`` qualify.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

LOGGER = logging.getLogger(__name__)


def frame_descriptors(frames: list[Atoms], yaml_path: str) -> np.ndarray:
    """Return one descriptor row per frame: per element, mean and std of the atoms' B projections."""
    from pyace.activelearning import compute_B_projections
    from pyace.basis import BBasisConfiguration

    if not frames:
        return np.zeros((0, 0))
    projections, structure_index = compute_B_projections(
        BBasisConfiguration(str(yaml_path)), frames, return_structure_ind_dict=True
    )
    blocks = []
    for species in sorted(projections):
        values = np.asarray(projections[species])
        owners = np.asarray(structure_index[species], dtype=int)
        width = values.shape[1]
        mean = np.zeros((len(frames), width))
        std = np.zeros((len(frames), width))
        for i in range(len(frames)):
            rows = values[owners == i]
            if len(rows):
                mean[i] = rows.mean(axis=0)
                std[i] = rows.std(axis=0)
        blocks += [mean, std]
    return np.hstack(blocks)


def standardise(descriptors: np.ndarray) -> np.ndarray:
    """Return descriptors centred and scaled per feature (constant features become zero)."""
    descriptors = np.asarray(descriptors, dtype=float)
    if descriptors.size == 0:
        return descriptors
    scale = descriptors.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return (descriptors - descriptors.mean(axis=0)) / scale


def rms_distances(points: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Return the root-mean-square distance of each row of ``points`` to ``point``."""
    if points.shape[1] == 0:
        return np.zeros(len(points))
    return np.sqrt(np.mean((points - point) ** 2, axis=1))


def select_frames(
    descriptors: np.ndarray,
    max_gamma: np.ndarray,
    max_selected: int,
    gamma_lower: float,
    duplicate_tolerance: float = 0.02,
    seed: int = 0,
    max_candidates: int = 5000,
    eligible: np.ndarray | None = None,
) -> tuple[list[int], dict]:
    """Return the indices of at most ``max_selected`` frames to label, and counts of what was dropped.

    Parameters
    ----------
    descriptors
        One row per frame (e.g. :func:`frame_descriptors`); standardised here.
    max_gamma
        Largest per-atom gamma of each frame; frames below ``gamma_lower`` (or non-finite) are not candidates.
    max_selected
        Upper bound on the selection.
    duplicate_tolerance
        Frames closer than this (standardised RMS distance) to a frame of higher gamma are duplicates.
    seed
        Seed of the subsampling when more than ``max_candidates`` frames qualify.
    eligible
        Optional boolean mask of frames allowed at all (e.g. no atoms too close).
    """
    if max_selected < 1:
        raise ValueError(f'max_selected must be >= 1, got {max_selected}')
    max_gamma = np.asarray(max_gamma, dtype=float)
    mask = np.isfinite(max_gamma) & (max_gamma >= gamma_lower)
    if eligible is not None:
        mask &= np.asarray(eligible, dtype=bool)
    candidates = np.flatnonzero(mask)
    info = {
        'frames': len(max_gamma),
        'below_lower': int(np.sum(~(np.isfinite(max_gamma) & (max_gamma >= gamma_lower)))),
        'ineligible': 0 if eligible is None else int(np.sum(~np.asarray(eligible, dtype=bool))),
        'subsampled_out': 0,
        'duplicates': 0,
        'candidates': 0,
    }
    if len(candidates) > max_candidates:
        rng = np.random.default_rng(seed)
        best = candidates[np.argmax(max_gamma[candidates])]
        others = candidates[candidates != best]
        keep = rng.choice(others, size=max_candidates - 1, replace=False)
        info['subsampled_out'] = len(candidates) - max_candidates
        candidates = np.sort(np.append(keep, best))
    if len(candidates) == 0:
        return [], info

    # order by gamma (descending), index ascending on ties
    order = candidates[np.lexsort((candidates, -max_gamma[candidates]))]
    points = standardise(np.asarray(descriptors, dtype=float)[order])
    kept = []
    for position in range(len(order)):
        if kept and rms_distances(points[kept], points[position]).min() < duplicate_tolerance:
            info['duplicates'] += 1
            continue
        kept.append(position)
    info['candidates'] = len(kept)
    points = points[kept]
    order = order[kept]

    selected = [0]
    distance = rms_distances(points, points[0])
    while len(selected) < min(max_selected, len(order)):
        distance[selected] = -np.inf
        # farthest from the selected set; argmax returns the first (highest-gamma) one on ties
        nxt = int(np.argmax(distance))
        selected.append(nxt)
        distance = np.minimum(distance, rms_distances(points, points[nxt]))
    return [int(order[i]) for i in selected], info
