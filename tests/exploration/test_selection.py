"""Selection of frames to label: at most N, by gamma and diversity, no duplicates, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_mlip_autopipe.exploration.selection import frame_descriptors, select_frames

from .conftest import FIXTURE, cuau_cell


def _synthetic(seed=0, n=60, dim=6):
    rng = np.random.default_rng(seed)
    descriptors = rng.normal(size=(n, dim))
    gamma = rng.uniform(0.5, 6.0, size=n)
    return descriptors, gamma


def test_selection_is_bounded_high_gamma_first_and_deterministic():
    descriptors, gamma = _synthetic()
    first, info = select_frames(descriptors, gamma, max_selected=7, gamma_lower=1.5, seed=3)
    again, _ = select_frames(descriptors, gamma, max_selected=7, gamma_lower=1.5, seed=3)
    assert first == again
    assert len(first) == 7 == len(set(first))
    assert first[0] == int(np.argmax(gamma))
    assert all(gamma[i] >= 1.5 for i in first)
    assert info['below_lower'] == int(np.sum(gamma < 1.5))


def test_selection_spreads_over_clusters():
    """Three tight clusters of frames: three picks take one frame of each, not three of the best cluster."""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    descriptors = np.vstack([centre + rng.normal(scale=0.1, size=(10, 2)) for centre in centres])
    gamma = np.concatenate([np.full(10, 9.0), np.full(10, 3.0), np.full(10, 2.0)]) + rng.uniform(0, 0.1, 30)
    picks, _ = select_frames(descriptors, gamma, max_selected=3, gamma_lower=1.5)
    assert sorted(i // 10 for i in picks) == [0, 1, 2]
    assert picks[0] == int(np.argmax(gamma))


def test_near_duplicates_are_removed_keeping_the_higher_gamma():
    descriptors, gamma = _synthetic(n=20)
    descriptors = np.vstack([descriptors, descriptors[:5] + 1e-6])
    gamma = np.concatenate([gamma, gamma[:5] + 0.5])
    picks, info = select_frames(descriptors, gamma, max_selected=25, gamma_lower=0.0)
    assert info['duplicates'] == 5
    assert len(picks) == 20
    chosen = {tuple(np.round(descriptors[i], 3)) for i in picks}
    assert len(chosen) == len(picks)
    assert all(20 + k in picks and k not in picks for k in range(5))


def test_subsampling_depends_on_the_seed_only():
    descriptors, gamma = _synthetic(n=200)
    a, info = select_frames(descriptors, gamma, max_selected=5, gamma_lower=0.0, seed=1, max_candidates=50)
    b, _ = select_frames(descriptors, gamma, max_selected=5, gamma_lower=0.0, seed=1, max_candidates=50)
    c, _ = select_frames(descriptors, gamma, max_selected=5, gamma_lower=0.0, seed=2, max_candidates=50)
    assert a == b and a != c
    assert info['subsampled_out'] == 150
    assert a[0] == c[0] == int(np.argmax(gamma))


def test_nothing_above_the_lower_threshold_selects_nothing():
    descriptors, gamma = _synthetic()
    picks, info = select_frames(descriptors, gamma * 0.1, max_selected=5, gamma_lower=1.5)
    assert picks == [] and info['candidates'] == 0
    with pytest.raises(ValueError, match='max_selected'):
        select_frames(descriptors, gamma, max_selected=0, gamma_lower=1.5)


def test_ace_descriptors_tell_compositions_and_strains_apart():
    frames = [cuau_cell(0.25, seed=0), cuau_cell(0.25, seed=0), cuau_cell(0.25, scale=0.9), cuau_cell(0.75)]
    frames[1].rattle(1e-7, seed=0)
    descriptors = frame_descriptors(frames, str(FIXTURE / 'potential.yaml'))
    assert descriptors.shape[0] == 4
    d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)
    assert d[0, 1] < 1e-4 * d[0, 2]
    assert d[0, 2] > 0 and d[0, 3] > 0
    picks, info = select_frames(descriptors, np.array([3.0, 2.9, 2.0, 2.5]), max_selected=4, gamma_lower=1.0)
    assert info['duplicates'] == 1 and 1 not in picks and len(picks) == 3
