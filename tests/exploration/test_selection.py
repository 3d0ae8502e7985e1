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


# -- D-optimal (MaxVol) selection against the active set ---------------------------------------------

YAML = str(FIXTURE / 'potential.yaml')
ASI = str(FIXTURE / 'potential.asi')


def _near_copies(atoms, count, seed):
    copies = []
    for index in range(count):
        copy = atoms.copy()
        copy.rattle(1e-3, seed=seed + index)
        copies.append(copy)
    return copies


def _planted_pool():
    """Return (frames, groups): three extrapolative kinds with near-duplicate copies, and known ground."""
    compressed = cuau_cell(0.25, scale=0.88, seed=1)
    hot = cuau_cell(0.5, seed=2)
    hot.rattle(0.25, seed=5)
    stretched = cuau_cell(0.75, scale=1.15, seed=3)
    known = cuau_cell(0.25, seed=4)
    known.rattle(0.01, seed=6)
    frames = [*_near_copies(compressed, 3, 10), *_near_copies(hot, 3, 20), *_near_copies(stretched, 2, 30), known]
    groups = {'compressed': [0, 1, 2], 'hot': [3, 4, 5], 'stretched': [6, 7], 'known': [8]}
    return frames, groups


def test_maxvol_takes_one_frame_per_near_duplicate_group_and_not_known_ground():
    from aiida_mlip_autopipe.exploration.selection import (
        frame_gamma,
        frame_projections,
        load_active_set,
        select_frames_maxvol,
    )

    frames, groups = _planted_pool()
    projections, owners = frame_projections(frames, YAML)
    active = load_active_set(ASI)
    gamma = frame_gamma(projections, owners, active, len(frames))
    assert (
        gamma[groups['known'][0]]
        < 1.5
        < min(gamma[i] for name in ('compressed', 'hot', 'stretched') for i in groups[name])
    )

    candidates = list(range(len(frames)))
    selected, reasons = select_frames_maxvol(projections, owners, active, candidates, 8, gamma_lower=1.5)
    taken = {name: [i for i in members if i in selected] for name, members in groups.items()}
    assert [len(taken[name]) for name in ('compressed', 'hot', 'stretched', 'known')] == [1, 1, 1, 0], taken
    assert reasons[groups['known'][0]][0] == 'represented' and 'of the potential' in reasons[groups['known'][0]][1]
    for index in set(candidates) - set(selected) - set(groups['known']):
        assert reasons[index][0] == 'represented' and 'after frame' in reasons[index][1]

    # deterministic, whatever the order the candidates come in
    again, _ = select_frames_maxvol(projections, owners, active, candidates[::-1], 8, gamma_lower=1.5)
    assert again == selected
    # a batch of one takes one frame and says the batch is full for frames still extrapolative
    first, reasons = select_frames_maxvol(projections, owners, active, candidates, 1, gamma_lower=1.5)
    assert first == selected[:1] and 'batch_full' in {reason for reason, _ in reasons.values()}


def test_maxvol_skips_frames_the_active_set_already_holds():
    """A frame whose environments were added to the active set (and its near copies) is not taken again."""
    from aiida_mlip_autopipe.exploration.selection import (
        _maxvol,
        _subset,
        frame_projections,
        load_active_set,
        select_frames_maxvol,
    )

    frames, groups = _planted_pool()
    projections, owners = frame_projections(frames, YAML)
    active, _ = _maxvol(*_subset(projections, owners, [groups['hot'][0]]), load_active_set(ASI))
    selected, reasons = select_frames_maxvol(projections, owners, active, range(len(frames)), 8, gamma_lower=1.5)
    assert not set(selected) & set(groups['hot'])
    assert all(reasons[index][0] == 'represented' for index in groups['hot'])
    assert len(selected) == 2


def test_trust_window_and_distance_decide_the_candidates():
    """Frames below gamma_lower or at/above gamma_upper, or with atoms too close, are not candidates;
    `label_above_upper` lets the high-gamma frames in, never the crushed ones."""
    from aiida_mlip_autopipe.exploration.selection import SELECTION_DEFAULTS, screen_frames

    frames = [cuau_cell(0.25, seed=i) for i in range(5)]
    frames[4].positions[1] = frames[4].positions[0] + [0.5, 0.5, 0.0]  # 0.71 A apart
    for atoms, gamma in zip(frames, [1.0, 2.0, 9.99, 10.0, 3.0]):
        atoms.info['max_gamma'] = gamma
    settings = {**SELECTION_DEFAULTS, 'gamma_lower': 1.5, 'gamma_upper': 10.0, 'min_distance': 1.5}
    candidates, reasons = screen_frames(frames, settings)
    assert candidates == [1, 2]
    assert {index: reason for index, (reason, _) in reasons.items()} == {
        0: 'below_lower',
        3: 'above_upper',
        4: 'too_close',
    }
    candidates, reasons = screen_frames(frames, {**settings, 'label_above_upper': True})
    assert candidates == [1, 2, 3] and reasons[4][0] == 'too_close'


def test_frames_above_the_window_are_taken_when_none_lies_in_it():
    """Every run halted at its first gamma check (a first potential from a few small cells): the halting frames
    are the candidates, else the loop would explore the same way again and select nothing; crushed ones never."""
    from aiida_mlip_autopipe.exploration.selection import SELECTION_DEFAULTS, screen_frames

    frames = [cuau_cell(0.25, seed=i) for i in range(4)]
    frames[3].positions[1] = frames[3].positions[0] + [0.5, 0.5, 0.0]  # 0.71 A apart
    for atoms, gamma in zip(frames, [1.0, 19.0, 7.0e5, 25.0]):
        atoms.info['max_gamma'] = gamma
    settings = {**SELECTION_DEFAULTS, 'gamma_lower': 1.5, 'gamma_upper': 10.0, 'min_distance': 1.5}
    candidates, reasons = screen_frames(frames, settings)
    assert candidates == [1, 2]
    assert {index: reason for index, (reason, _) in reasons.items()} == {0: 'below_lower', 3: 'too_close'}
