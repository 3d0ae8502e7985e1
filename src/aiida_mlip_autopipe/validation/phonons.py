"""Phonons of a calculator by finite displacements (phonopy), and the comparison of two spectra.

Pure functions on ASE atoms, testable without a profile. A cubic cell (its conventional cube) is
repeated ``supercell`` times per direction; phonopy displaces the symmetry-distinct atoms by
:data:`PHONON_DISPLACEMENT` and builds the force constants from the forces of those supercells.
The potential's side evaluates the forces itself (:func:`calculator_phonons`); the labeller's side
gets the same displaced supercells (:func:`displaced_supercells`) labelled and hands their forces to
:func:`phonon_spectrum`. Both sides are compared at the same reduced q-points of the primitive
cell: a Gamma-centred mesh (the errors) and a path through the high-symmetry points (the plot).
Frequencies in THz; an imaginary frequency is negative (phonopy's convention).
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

#: Repeats of the conventional cell per direction of the phonon supercell (fcc, L1_2: 32 atoms).
PHONON_SUPERCELL = 2
#: Displacement of the finite differences (A), phonopy's default.
PHONON_DISPLACEMENT = 0.01
#: Gamma-centred q-point mesh of the primitive cell on which the frequencies are compared.
PHONON_MESH = (8, 8, 8)
#: Points per segment of the band path.
BAND_POINTS = 31
#: High-symmetry paths of the cubic lattices by centring (phonopy's primitive cell: ``F`` fcc,
#: ``I`` bcc, ``P`` simple cubic), in reduced coordinates of the conventional cube's reciprocal
#: cell (units of 2 pi / a): segments of (label, q) pairs. Consecutive segments are joined: where one
#: ends and the next starts are equivalent points (fcc: X = (1, 0, 0) and (1, 1, 0)).
BAND_PATHS = {
    'F': [
        [('Γ', (0, 0, 0)), ('X', (1, 0, 0))],
        [('X', (1, 1, 0)), ('K', (0.75, 0.75, 0)), ('Γ', (0, 0, 0)), ('L', (0.5, 0.5, 0.5))],
    ],
    'I': [[('Γ', (0, 0, 0)), ('H', (1, 0, 0)), ('N', (0.5, 0.5, 0)), ('Γ', (0, 0, 0)), ('P', (0.5, 0.5, 0.5))]],
    'P': [
        [('Γ', (0, 0, 0)), ('X', (0, 0.5, 0)), ('M', (0.5, 0.5, 0)), ('Γ', (0, 0, 0)), ('R', (0.5, 0.5, 0.5))],
    ],
}


def centring(atoms: Atoms, symprec: float = 1e-5) -> str:
    """Return the centring letter of the space group of cubic ``atoms`` (``F``, ``I`` or ``P``); raise
    ``ValueError`` for a cell that is not cubic or has no path in :data:`BAND_PATHS`."""
    import spglib

    dataset = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)
    if dataset is None or not 195 <= dataset.number <= 230:
        symbol = 'no space group' if dataset is None else f'space group {dataset.international}'
        raise ValueError(f'{atoms.get_chemical_formula()}: phonons are compared for cubic cells only, not {symbol}')
    letter = dataset.international[0]
    if letter not in BAND_PATHS:
        raise ValueError(f'{atoms.get_chemical_formula()}: no band path for centring {letter}')
    return letter


def phonopy_of(atoms: Atoms, supercell: int = PHONON_SUPERCELL):
    """Return phonopy's ``Phonopy`` for the conventional cubic ``atoms`` repeated ``supercell`` times per
    direction, its primitive cell chosen by the centring, with the displacements generated."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions()
    )
    phonopy = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * supercell, primitive_matrix=centring(atoms))
    phonopy.generate_displacements(distance=PHONON_DISPLACEMENT)
    return phonopy


def displaced_supercells(atoms: Atoms, supercell: int = PHONON_SUPERCELL) -> list[Atoms]:
    """Return the displaced supercells whose forces give the force constants of ``atoms``, in phonopy's order."""
    return [
        Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        for cell in phonopy_of(atoms, supercell).supercells_with_displacements
    ]


def matching_supercells(frames, atoms: Atoms, supercell: int = PHONON_SUPERCELL, tolerance: float = 1e-6) -> bool:
    """Return whether ``frames`` are the displaced supercells of ``atoms`` (same species, cells and positions
    within ``tolerance`` A, in order)."""
    expected = displaced_supercells(atoms, supercell)
    if len(frames) != len(expected):
        return False
    for frame, cell in zip(frames, expected):
        if frame.get_chemical_symbols() != cell.get_chemical_symbols():
            return False
        if not np.allclose(frame.cell[:], cell.cell[:], atol=tolerance):
            return False
        shift = frame.get_scaled_positions(wrap=False) - cell.get_scaled_positions(wrap=False)
        shift -= np.round(shift)
        if np.abs(shift @ cell.cell[:]).max() > tolerance:
            return False
    return True


def band_path(letter: str, primitive_matrix) -> tuple[list[np.ndarray], list[str]]:
    """Return phonopy's band paths (q in the primitive cell's reduced coordinates, one array per pair of
    neighbouring points, all joined) and the labels of the path of centring ``letter``."""
    transform = np.asarray(primitive_matrix, dtype=float).T  # q_primitive = P^T q_conventional
    paths, labels = [], []
    for segment in BAND_PATHS[letter]:
        for (start_label, start), (end_label, end) in itertools.pairwise(segment):
            q_start, q_end = transform @ np.asarray(start, float), transform @ np.asarray(end, float)
            paths.append(np.array([q_start + (q_end - q_start) * t for t in np.linspace(0, 1, BAND_POINTS)]))
            labels.extend([start_label, end_label] if not labels else [end_label])
    return paths, labels


def phonon_spectrum(atoms: Atoms, forces, supercell: int = PHONON_SUPERCELL) -> dict:
    """Return the phonons of ``atoms`` from the ``forces`` (eV/A) of its displaced supercells.

    ``mesh_frequencies``: at the :data:`PHONON_MESH` q-points (``mesh_qpoints``, reduced coordinates
    of the primitive cell, no symmetry reduction), ascending per q-point; ``band``: the
    high-symmetry path (``distances`` in 1/A, ``frequencies`` per point, ``labels`` of the segments'
    ends, ``segments`` points per segment); ``dos``: total density of states (states/THz per
    primitive cell, tetrahedron method); ``max_frequency`` and ``min_frequency`` over the mesh;
    ``centring``, ``supercell_atoms`` and ``displacements``.
    """
    phonopy = phonopy_of(atoms, supercell)
    forces = np.asarray(forces, dtype=float)
    expected = (len(phonopy.supercells_with_displacements), len(phonopy.supercell), 3)
    if forces.shape != expected:
        raise ValueError(f'forces of shape {forces.shape}; the displaced supercells need {expected}')
    phonopy.forces = forces
    phonopy.produce_force_constants(show_drift=False)
    phonopy.run_mesh(list(PHONON_MESH), is_mesh_symmetry=False, is_gamma_center=True)
    mesh = np.asarray(phonopy.mesh.frequencies, dtype=float)
    phonopy.run_total_dos()
    letter = centring(atoms)
    paths, labels = band_path(letter, phonopy.primitive_matrix)
    phonopy.run_band_structure(paths, path_connections=[True] * len(paths), labels=labels)
    bands = phonopy.band_structure
    return {
        'centring': letter,
        'supercell': int(supercell),
        'supercell_atoms': len(phonopy.supercell),
        'displacements': len(phonopy.supercells_with_displacements),
        'mesh': list(PHONON_MESH),
        'mesh_qpoints': np.asarray(phonopy.mesh.qpoints, dtype=float).tolist(),
        'mesh_frequencies': mesh.tolist(),
        'max_frequency': float(mesh.max()),
        'min_frequency': float(mesh.min()),
        'band': {
            'labels': labels,
            'segments': [len(path) for path in paths],
            'distances': np.concatenate(bands.distances).tolist(),
            'frequencies': np.concatenate(bands.frequencies).tolist(),
        },
        'dos': {
            'frequency_points': np.asarray(phonopy.total_dos.frequency_points, dtype=float).tolist(),
            'dos': np.asarray(phonopy.total_dos.dos, dtype=float).tolist(),
        },
    }


def calculator_phonons(atoms: Atoms, calculator, supercell: int = PHONON_SUPERCELL) -> dict:
    """Return :func:`phonon_spectrum` of ``atoms`` with the forces of ``calculator``."""
    forces = []
    for cell in displaced_supercells(atoms, supercell):
        cell.calc = calculator
        forces.append(np.asarray(cell.get_forces(), dtype=float))
        cell.calc = None
    return phonon_spectrum(atoms, forces, supercell)


def compare_phonons(potential: dict, labeller: dict, tolerance: float) -> dict:
    """Return the frequency errors of the ``potential`` spectrum against the ``labeller``'s (both from
    :func:`phonon_spectrum`, same cell, centring and mesh) and whether they are within ``tolerance``.

    Over every q-point of the mesh and every band (ascending at each q-point on both sides):
    ``rmse`` and ``max_error`` (the difference of largest magnitude, THz), with ``worst`` (the q-point,
    band and both frequencies there). ``limit`` = ``tolerance`` x the labeller's highest frequency
    (THz): the RMSE, the largest error and the highest frequency (relative error, ``tolerance``)
    each pass when within it.
    """
    ours = np.asarray(potential['mesh_frequencies'], dtype=float)
    theirs = np.asarray(labeller['mesh_frequencies'], dtype=float)
    if ours.shape != theirs.shape or potential['centring'] != labeller['centring']:
        raise ValueError(
            f'the spectra differ in shape ({ours.shape} against {theirs.shape}) or centring '
            f'({potential["centring"]} against {labeller["centring"]})'
        )
    difference = ours - theirs
    q_index, band = (int(index) for index in np.unravel_index(np.argmax(np.abs(difference)), difference.shape))
    rmse = float(np.sqrt(np.mean(difference**2)))
    max_error = float(difference[q_index, band])
    limit = tolerance * float(labeller['max_frequency'])
    max_frequency_error = float(potential['max_frequency']) / float(labeller['max_frequency']) - 1
    return {
        'rmse': rmse,
        'max_error': max_error,
        'worst': {
            'q': [float(value) for value in labeller['mesh_qpoints'][q_index]],
            'band': band,
            'potential': float(ours[q_index, band]),
            'labeller': float(theirs[q_index, band]),
        },
        'max_frequency_error': max_frequency_error,
        'limit': limit,
        'passed': {
            'max_frequency': abs(max_frequency_error) <= tolerance,
            'phonon_rmse': rmse <= limit,
            'phonon_max_error': abs(max_error) <= limit,
        },
    }
