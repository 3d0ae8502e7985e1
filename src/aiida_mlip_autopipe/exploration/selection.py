"""Pure selection of the explored frames to label next.

Two methods share the candidates: frames whose largest gamma lies in the trust window
``gamma_lower <= gamma < gamma_upper`` (DP-GEN's two trust levels: below the lower one the potential
knows the frame, above the upper one the frame is usually unphysical, a crushed or exploded cell
that would spoil the fit), without atoms closer than a minimum distance.

- ``maxvol`` (default, :func:`select_frames_maxvol`): D-optimal batch selection against the current
  potential's active set, with pyace's MaxVol (what ``pace_select -a`` does), made greedy so a batch
  holds no two frames that teach the same thing: each round MaxVol runs over the remaining
  candidates' B-projections together with the active set, the frame that brings the most atomic
  environments into it is taken, the active set is updated with that frame (MaxVol again), and every
  remaining frame is graded against the updated set; a frame whose largest gamma has fallen below
  ``gamma_lower`` is now represented and dropped. Frames the active set already covers are never
  taken, near duplicates of a taken frame drop out, and the result is deterministic.
- ``farthest_point`` (:func:`select_frames`): farthest-point sampling over pooled per-frame
  descriptors, starting from the frame with the largest gamma (the method before MaxVol).

Frames are kept whole (the periodic MD cell is what the labelling computes): exploration cells
are small (tens to a few hundred atoms), periodic DFT on the same cell matches the periodic
training frames, and cutting a local cluster around the high-gamma atom would need vacuum
padding or a non-periodic reference that the rest of the training set does not have.

For ``farthest_point``, each frame is described by the ACE B-basis projections of its atoms (pyace's
``compute_B_projections`` on the current potential: the same features gamma is built on), pooled
per element into a mean and a standard deviation. The descriptors are standardised over the
candidates; distances are root-mean-square over the features. Selection is farthest-point sampling
that starts from the frame with the largest gamma, after removing near duplicates (a frame within
``duplicate_tolerance`` of a frame of higher gamma) and frames with atoms closer than
``min_distance``. Deterministic: ties break by gamma then by index; ``seed`` only decides which
frames are kept when more than ``max_candidates`` qualify.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from ..common.duplicates import descriptor_duplicates
from ..common.geometry import min_interatomic_distance
from ..common.sampling import farthest_point_sampling
from .fragments import cut_fragment

LOGGER = logging.getLogger(__name__)

#: Margin (A) below the MD cell's shortest interatomic distance that a fragment's contacts may reach.
CUT_CONTACT_MARGIN = 0.01
#: MaxVol settings (pace_select's defaults): stop when no coefficient exceeds the tolerance.
MAXVOL_TOLERANCE = 1.01
MAXVOL_ITERATIONS = 300


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
        Frames within this (standardised RMS distance) of a frame of higher gamma are duplicates.
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
    duplicates = descriptor_duplicates(points, duplicate_tolerance, distance=rms_distances)
    kept = [position for position in range(len(order)) if position not in duplicates]
    info['duplicates'] = len(duplicates)
    info['candidates'] = len(kept)
    points, order = points[kept], order[kept]
    # from the frame of largest gamma; ties go to the first (higher-gamma) frame
    selected, _ = farthest_point_sampling(points, max_selected, first=0, distance=rms_distances)
    return [int(order[i]) for i in selected], info


# -- D-optimal (MaxVol) selection --------------------------------------------------------------------


def frame_projections(frames: list[Atoms], yaml_path: str) -> tuple[dict, dict]:
    """Return the linear B-projections of every atom of ``frames`` (per species type) and each row's frame.

    The projections are those ``pace_activeset`` builds the active set from and LAMMPS grades gamma on.
    """
    from pyace.activelearning import compute_B_projections
    from pyace.basis import BBasisConfiguration

    projections, owners = compute_B_projections(
        BBasisConfiguration(str(yaml_path)), frames, return_structure_ind_dict=True
    )
    return projections, {species: np.asarray(rows, dtype=int) for species, rows in owners.items()}


def load_active_set(asi_path: str) -> dict:
    """Return the active set (per species type, rows of B-projections) of a potential's ``.asi`` file."""
    from pyace.activelearning import compute_A_active_inverse, load_active_inverse_set

    return compute_A_active_inverse(load_active_inverse_set(str(asi_path)))


def frame_gamma(projections: dict, owners: dict, active_set: dict, n_frames: int) -> np.ndarray:
    """Return the largest extrapolation grade of each frame against ``active_set`` (0 for frames without atoms)."""
    gamma = np.zeros(n_frames)
    for species, rows in projections.items():
        if not len(rows):
            continue
        per_atom = np.abs(rows @ np.linalg.pinv(active_set[species])).max(axis=1)
        np.maximum.at(gamma, owners[species], per_atom)
    return gamma


def _maxvol(projections: dict, owners: dict, active_set: dict) -> tuple[dict, dict]:
    """Return MaxVol's active set over ``projections`` plus ``active_set`` and the owner of each of its rows
    (-1 for rows of the old active set), with pyace's ``compute_active_set``."""
    from pyace.activelearning import compute_active_set

    rows = {species: np.array(values, dtype=float, copy=True) for species, values in projections.items()}
    owner_rows = {species: np.asarray(owners[species], dtype=float).copy() for species in projections}
    extra = {species: np.array(active_set[species], dtype=float, copy=True) for species in projections}
    new_set, new_owners = compute_active_set(
        rows, owner_rows, tol=MAXVOL_TOLERANCE, max_iters=MAXVOL_ITERATIONS, extra_A0_projections_dict=extra
    )
    return new_set, {species: np.asarray(values, dtype=int) for species, values in new_owners.items()}


def _subset(projections: dict, owners: dict, frames) -> tuple[dict, dict]:
    keep = {species: np.isin(owners[species], list(frames)) for species in projections}
    return (
        {species: projections[species][mask] for species, mask in keep.items()},
        {species: owners[species][mask] for species, mask in keep.items()},
    )


def select_frames_maxvol(
    projections: dict,
    owners: dict,
    active_set: dict,
    candidates,
    max_selected: int,
    gamma_lower: float,
    max_gamma=None,
) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """Return the frames to label (in the order taken) and why each other candidate was not taken.

    Parameters
    ----------
    projections, owners
        B-projections per species type and the frame of each row (:func:`frame_projections`).
    active_set
        The current potential's active set per species type (:func:`load_active_set`).
    candidates
        Indices of the frames that may be taken (inside the trust window, no atoms too close).
    max_selected
        Most frames taken.
    gamma_lower
        A candidate whose largest gamma against the (updated) active set is below this is represented.
    max_gamma
        Optional largest gamma of each frame as the MD reported it: ties between frames that bring
        equally many environments go to the larger one, then to the lower index.

    Returns
    -------
    selected, reasons
        ``reasons`` maps each candidate not selected to ``(reason, detail)``: ``represented`` (by the
        active set of the potential, or after a named frame was added) or ``batch_full``.
    """
    if max_selected < 1:
        raise ValueError(f'max_selected must be >= 1, got {max_selected}')
    remaining = sorted(int(index) for index in candidates)
    n_frames = 1 + max([*remaining, *(int(rows.max()) for rows in owners.values() if len(rows))], default=-1)
    tie = np.zeros(n_frames) if max_gamma is None else np.nan_to_num(np.asarray(max_gamma, dtype=float)[:n_frames])
    selected: list[int] = []
    reasons: dict[int, tuple[str, str]] = {}
    active = {species: np.asarray(rows, dtype=float) for species, rows in active_set.items()}
    while remaining:
        gamma = frame_gamma(*_subset(projections, owners, remaining), active, n_frames)
        represented = [index for index in remaining if gamma[index] < gamma_lower]
        after = f'after frame {selected[-1]} was added' if selected else 'of the potential'
        for index in represented:
            reasons[index] = ('represented', f'by the active set {after}: gamma {gamma[index]:.2f} < {gamma_lower:g}')
        remaining = [index for index in remaining if index not in represented]
        if not remaining:
            break
        if len(selected) == max_selected:
            for index in remaining:
                reasons[index] = ('batch_full', f'{max_selected} frames already taken')
            break
        _, new_owners = _maxvol(*_subset(projections, owners, remaining), active)
        brought = {index: 0 for index in remaining}
        for rows in new_owners.values():
            for index in rows[rows >= 0]:
                brought[int(index)] += 1
        best = max(remaining, key=lambda index: (brought[index], gamma[index], tie[index], -index))
        selected.append(best)
        remaining.remove(best)
        active, _ = _maxvol(*_subset(projections, owners, [best]), active)
    return selected, reasons


# -- the whole selection of an exploration ----------------------------------------------------------


#: Defaults of the selection settings (:func:`choose_frames`; the ``parameters`` of the selection task).
SELECTION_DEFAULTS = {
    'method': 'maxvol',
    'max_selected': 8,
    'gamma_lower': 1.5,
    'gamma_upper': 10.0,
    'label_above_upper': False,
    'duplicate_tolerance': 0.02,
    'min_distance': 1.5,
    'seed': 0,
    'max_candidates': 5000,
    'label_atoms': None,
    'label_atoms_max': None,
}
SELECTION_METHODS = ('maxvol', 'farthest_point')


def frames_from_arrays(arrays: dict) -> list[Atoms]:
    """Return the frames of a candidates trajectory, given as its arrays (``positions``, ``cells``, ``steps``,
    ``gamma``, ``symbols`` and, when atoms were swapped, ``numbers``), with ``arrays['gamma']``, ``info['step']``
    and ``info['max_gamma']``.

    The elements of each frame come from the array ``numbers`` (atom swaps change them) when present.
    """
    positions, cells, steps, gamma = (np.asarray(arrays[name]) for name in ('positions', 'cells', 'steps', 'gamma'))
    numbers = arrays['numbers'] if 'numbers' in arrays else [list(arrays['symbols'])] * len(positions)
    frames = []
    for i in range(len(positions)):
        atoms = Atoms(numbers[i], positions=positions[i], cell=cells[i], pbc=True)
        atoms.arrays['gamma'] = np.asarray(gamma[i], dtype=float)
        atoms.info['step'] = int(steps[i])
        atoms.info['max_gamma'] = float(np.max(gamma[i]))
        if 'sites' in arrays:
            atoms.arrays['site'] = np.asarray(arrays['sites'], dtype=float)
            atoms.info['repeats'] = [int(value) for value in arrays['repeats']]
        frames.append(atoms)
    return frames


def _fragment(frame: Atoms, centre: int, max_atoms: int, settle_below: float | None = None) -> Atoms:
    """Cut the periodic fragment of ``frame`` around ``centre`` (:func:`~.fragments.cut_fragment`, contacts shorter
    than ``settle_below`` settled) with its atoms' ``gamma`` and ``info['max_gamma']`` = its centre's."""
    gamma = frame.arrays['gamma']
    fragment = cut_fragment(
        frame, frame.info['repeats'], frame.arrays['site'], centre, max_atoms, settle_below=settle_below
    )
    fragment.arrays['gamma'] = gamma[fragment.info['fragment']['atoms']]
    fragment.info.update(step=frame.info['step'], max_gamma=float(gamma[centre]))
    fragment.info['fragment'].update(centre_gamma=float(gamma[centre]), frame_atoms=len(frame))
    return fragment


def fragments_of(frame: Atoms, max_atoms: int, gamma_lower: float, limit: int) -> list[Atoms]:
    """Return periodic fragments of ``frame`` (at most ``max_atoms`` atoms each, :func:`~.fragments.cut_fragment`)
    around its atoms of largest gamma: the largest first, then each next atom at or above ``gamma_lower`` that
    no earlier fragment holds, at most ``limit``. Each carries its atoms' ``gamma`` and ``info['max_gamma']``
    = its centre's. ``[frame]`` when the frame is not larger or its starting cell repeats nothing (no
    ``site`` array)."""
    if len(frame) <= max_atoms or 'site' not in frame.arrays:
        return [frame]
    gamma = frame.arrays['gamma']
    fragments, held = [], set()
    for centre in np.argsort(-gamma, kind='stable'):
        if len(fragments) == limit or (fragments and gamma[centre] < gamma_lower):
            break
        if int(centre) in held:
            continue
        fragment = _fragment(frame, int(centre), max_atoms)
        held.update(fragment.info['fragment']['atoms'])
        fragments.append(fragment)
    return fragments


def _larger_cuts(frame: Atoms, fragment: Atoms, max_atoms: int):
    """Yield ever larger cuts of ``frame`` around ``fragment``'s centre: its atoms doubled each time, up to
    ``max_atoms`` and short of the whole frame, each cut with more atoms than the one before."""
    limit = min(max_atoms, len(frame) - 1)  # a cut of the whole frame is no fragment
    target = size = len(fragment)
    while target < limit:
        target = min(2 * target, limit)
        larger = _fragment(frame, fragment.info['fragment']['centre'], target)
        if len(larger) > size:  # else no whole block more fits in this target: try the next
            size = len(larger)
            yield larger


def grow_fragments(frame: Atoms, fragments: list[Atoms], max_atoms: int, gamma_lower: float, grade) -> list[Atoms]:
    """Return ``fragments``, each one that lost the extrapolation it was cut for replaced by the smallest larger cut
    around its centre that keeps it.

    A periodic fragment is its centre's environment only out to half its box. When the active set grades a
    fragment below ``gamma_lower`` although its centre was at or above it in the MD cell, what the potential
    did not know lay further out, and a label of that fragment teaches something else. Its cut is then
    doubled in atoms, up to ``max_atoms``, until the fragment is graded at or above ``gamma_lower``; the last
    cut is kept either way (MaxVol drops it as represented if it still is). ``grade`` maps a list of
    fragments to their largest gamma against the active set; ``info['fragment']['graded']`` records the grade
    of every cut tried, by its atoms.
    """
    grown = []
    for fragment, graded in zip(fragments, grade(fragments)):
        tried = {str(len(fragment)): round(float(graded), 3)}
        if graded < gamma_lower <= fragment.info['fragment']['centre_gamma']:
            for larger in _larger_cuts(frame, fragment, max_atoms):
                fragment, graded = larger, float(grade([larger])[0])
                tried[str(len(fragment))] = round(graded, 3)
                if graded >= gamma_lower:
                    break
        fragment.info['fragment']['graded'] = tried
        grown.append(fragment)
    return grown


def widen_past_cut_contacts(frame: Atoms, fragment: Atoms, shortest: float, max_atoms: int) -> Atoms:
    """Return ``fragment``, or the smallest larger cut around its centre with no two atoms closer than ``shortest``.

    Where a periodic fragment's faces meet, atoms that were not neighbours in the MD cell sit side by side;
    a contact shorter than any the MD cell had (``shortest``) is the cut's, not the MD's, and its label (forces of
    tens of eV/A, energies far above the rest) teaches the potential a configuration the exploration never
    reached. The cut is doubled in atoms, up to ``max_atoms``, until it has no such contact. When even the largest
    cut has one, that cut is made again with the atoms of its contacts settled on their lattice sites, the
    farthest from the centre first (:func:`~.fragments.cut_fragment`, ``settle_below``): a hot MD cell's thermal
    displacements put such contacts into cuts of any size the labelling affords. The caller drops a fragment
    that still has one.
    """
    graded = fragment.info['fragment'].get('graded')  # the extrapolation grades of the cuts grow_fragments tried
    if min_interatomic_distance(fragment) >= shortest:
        return fragment
    for larger in _larger_cuts(frame, fragment, max_atoms):
        fragment = larger
        if min_interatomic_distance(fragment) >= shortest:
            break
    else:
        fragment = _fragment(frame, fragment.info['fragment']['centre'], len(fragment), settle_below=shortest)
    if graded is not None:
        fragment.info['fragment']['graded'] = graded
    return fragment


def screen_frames(frames: list[Atoms], settings: dict) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """Return the candidate frames (trust window, no atoms too close) and ``(reason, detail)`` of each other.

    When no frame lies in the trust window, the frames above it (the ones that halted the runs) with no
    atoms too close are the candidates instead, as in pacemaker's own active learning: without them the
    next iteration would explore with the same potential from the same starts and select nothing again.
    """
    lower, upper = settings['gamma_lower'], settings['gamma_upper']
    candidates, above, reasons = [], [], {}
    for index, atoms in enumerate(frames):
        gamma = atoms.info['max_gamma']
        distance = min_interatomic_distance(atoms)
        if not np.isfinite(gamma) or gamma < lower:
            reasons[index] = ('below_lower', f'gamma {gamma:.2f} < gamma_lower {lower:g}: known ground')
        elif distance < settings['min_distance']:
            reasons[index] = ('too_close', f'atoms {distance:.2f} A apart < {settings["min_distance"]:g} A')
        elif gamma >= upper and not settings['label_above_upper']:
            reasons[index] = ('above_upper', f'gamma {gamma:.2f} >= gamma_upper {upper:g}: outside the trust window')
            above.append(index)
        else:
            candidates.append(index)
    if not candidates and above:
        candidates = above
        for index in above:
            del reasons[index]
    if len(candidates) > settings['max_candidates']:
        rng = np.random.default_rng(settings['seed'])
        kept = set(rng.choice(candidates, size=settings['max_candidates'], replace=False).tolist())
        for index in candidates:
            if index not in kept:
                reasons[index] = ('subsampled', f'left out of a random subset of {settings["max_candidates"]}')
        candidates = sorted(kept)
    return candidates, reasons


def select_candidates(frames, candidates, settings, files) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """Run the selection ``settings['method']`` over ``candidates`` with the potential's ``files`` (``yaml``, and
    ``asi`` for ``maxvol``); return (selected, reasons)."""
    max_gamma = np.array([atoms.info['max_gamma'] for atoms in frames])
    if settings['method'] == 'maxvol':
        projections, owners = frame_projections([frames[i] for i in candidates], str(files['yaml']))
        owners = {species: np.asarray(candidates)[rows] for species, rows in owners.items()}
        return select_frames_maxvol(
            projections,
            owners,
            load_active_set(str(files['asi'])),
            candidates,
            max_selected=int(settings['max_selected']),
            gamma_lower=float(settings['gamma_lower']),
            max_gamma=max_gamma,
        )
    descriptors = np.zeros((len(frames), 0))
    if candidates:
        block = frame_descriptors([frames[i] for i in candidates], str(files['yaml']))
        descriptors = np.zeros((len(frames), block.shape[1]))
        descriptors[candidates] = block
    eligible = np.zeros(len(frames), dtype=bool)
    eligible[candidates] = True
    selected, _ = select_frames(
        descriptors,
        max_gamma,
        max_selected=int(settings['max_selected']),
        gamma_lower=float(settings['gamma_lower']),
        duplicate_tolerance=float(settings['duplicate_tolerance']),
        eligible=eligible,
        max_candidates=len(frames) + 1,
    )
    return selected, {index: ('not_picked', 'not a farthest point') for index in candidates if index not in selected}


def check_selection_settings(parameters: dict) -> dict:
    """Return :data:`SELECTION_DEFAULTS` updated with ``parameters``; raise ``ValueError`` naming a wrong key."""
    settings = {**SELECTION_DEFAULTS, **parameters}
    unknown = sorted(set(settings) - set(SELECTION_DEFAULTS))
    if unknown:
        raise ValueError(f'`parameters`: unknown keys {unknown}; allowed: {sorted(SELECTION_DEFAULTS)}')
    if settings['method'] not in SELECTION_METHODS:
        raise ValueError(f'`parameters.method`: `{settings["method"]}`; allowed: {", ".join(SELECTION_METHODS)}')
    if settings['label_atoms_max'] is not None:
        if settings['method'] != 'maxvol' or not settings['label_atoms']:
            raise ValueError(
                '`parameters.label_atoms_max` grows fragments graded by the active set: it needs '
                '`label_atoms` and the `maxvol` method'
            )
        if settings['label_atoms_max'] < settings['label_atoms']:
            raise ValueError(
                f'`parameters.label_atoms_max`: {settings["label_atoms_max"]} is smaller than '
                f'`label_atoms` ({settings["label_atoms"]})'
            )
    return settings


def _fragment_candidates(
    frames: list, keys: list, candidates: list, reasons: dict, settings: dict, grade=None
) -> list[int]:
    """Replace each candidate frame larger than ``label_atoms`` by its fragments (:func:`fragments_of`, at most
    ``max_selected`` per frame; with ``label_atoms_max`` and ``grade``, grown until they keep their
    extrapolation, :func:`grow_fragments`), appended to ``frames`` and ``keys`` (``<frame key>_atom<centre>``);
    return the new candidates. A fragment whose faces bring atoms closer than the MD cell's shortest distance is
    cut larger up to ``label_atoms_max``, and the largest cut's contacts settled if it still has one
    (:func:`widen_past_cut_contacts`); a fragment that has one even so is dropped (reason ``too_close``), and so
    is a frame no fragment can be cut from (reason ``fragment_failed``; it is too large to label whole)."""
    pool = []
    for index in candidates:
        try:
            fragments = fragments_of(
                frames[index],
                int(settings['label_atoms']),
                float(settings['gamma_lower']),
                int(settings['max_selected']),
            )
        except ValueError as exception:  # its atoms left the starting cell's lattice of sites: not labelled whole
            reasons[index] = ('fragment_failed', f'no fragment of <= {settings["label_atoms"]} atoms: {exception}')
            continue
        if fragments[0] is frames[index]:  # not larger than label_atoms, or not a repeated cell
            pool.append(index)
            continue
        if grade is not None:  # given only with label_atoms_max
            fragments = grow_fragments(
                frames[index], fragments, int(settings['label_atoms_max']), float(settings['gamma_lower']), grade
            )
        # no contact shorter than the MD cell's own shortest (less a rounding margin): the cut's, not the MD's
        frame_shortest = min_interatomic_distance(frames[index])
        shortest = max(float(settings['min_distance']), frame_shortest - CUT_CONTACT_MARGIN)
        max_atoms = int(settings['label_atoms_max'] or settings['label_atoms'])
        fragments = [widen_past_cut_contacts(frames[index], fragment, shortest, max_atoms) for fragment in fragments]
        largest = max(len(fragment) for fragment in fragments)
        reasons[index] = ('fragmented', f'labelled as {len(fragments)} fragments of <= {largest} atoms')
        for fragment in fragments:
            frames.append(fragment)
            keys.append(f'{keys[index]}_atom{fragment.info["fragment"]["centre"]:05d}')
            distance = min_interatomic_distance(fragment)
            if distance < shortest:
                reasons[len(frames) - 1] = (
                    'too_close',
                    f'fragment atoms {distance:.2f} A apart where its faces meet; the MD cell had none closer '
                    f'than {frame_shortest:.2f} A',
                )
            else:
                pool.append(len(frames) - 1)
    return pool


def choose_frames(runs: dict[str, list[Atoms]], parameters: dict, files: dict) -> tuple[dict[str, Atoms], dict]:
    """Select at most ``max_selected`` explored frames to label next.

    ``runs`` are the runs' candidate frames (:func:`frames_from_arrays`) keyed by run label, ``files``
    the potential's (``yaml``, ``asi``). Frames outside the trust window ``gamma_lower <= gamma <
    gamma_upper`` (frames at or above ``gamma_upper`` only when ``label_above_upper``) or with atoms
    closer than ``min_distance`` are not candidates; the ``method`` (``maxvol`` or ``farthest_point``)
    picks among the rest. With ``label_atoms``, a candidate larger than that is replaced by periodic
    fragments around its atoms of largest gamma (:func:`fragments_of`) before the method picks: what is
    selected, and labelled, are fragments. Returns the selected frames keyed ``<run>_step<step>``
    (link-label safe) and the selection report: the selected frames with their gamma (and fragment),
    every other frame with the reason it was not taken, counts and the settings.
    """
    settings = check_selection_settings(parameters)
    frames, keys = [], []
    for run in sorted(runs):
        for atoms in runs[run]:
            frames.append(atoms)
            keys.append(f'{run}_step{atoms.info["step"]:08d}')
    candidate_indices, reasons = screen_frames(frames, settings)
    if settings['label_atoms']:
        grade = None
        if settings['label_atoms_max'] and candidate_indices:
            active_set = load_active_set(str(files['asi']))

            def grade(fragments):
                projections, owners = frame_projections(fragments, str(files['yaml']))
                return frame_gamma(projections, owners, active_set, len(fragments))

        candidate_indices = _fragment_candidates(frames, keys, candidate_indices, reasons, settings, grade)
    selected = []
    if candidate_indices:
        selected, picked_reasons = select_candidates(frames, candidate_indices, settings, files)
        reasons.update(picked_reasons)
    chosen, report = {}, {}
    for rank, index in enumerate(selected):
        atoms = Atoms(frames[index].get_chemical_symbols(), frames[index].positions, cell=frames[index].cell, pbc=True)
        chosen[keys[index]] = atoms
        report[keys[index]] = {'rank': rank, 'max_gamma': frames[index].info['max_gamma'], 'atoms': len(atoms)}
        if 'fragment' in frames[index].info:
            fragment = frames[index].info['fragment']
            report[keys[index]]['fragment'] = {key: value for key, value in fragment.items() if key != 'atoms'}
    dropped = {keys[index]: {'reason': reason, 'detail': detail} for index, (reason, detail) in sorted(reasons.items())}
    counts = {'frames': len(frames), 'candidates': len(candidate_indices), 'selected': len(selected)}
    for entry in dropped.values():
        counts[entry['reason']] = counts.get(entry['reason'], 0) + 1
    return chosen, {'selected': report, 'not_selected': dropped, 'counts': counts, 'parameters': settings}
