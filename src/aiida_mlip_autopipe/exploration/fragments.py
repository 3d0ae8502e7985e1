"""Periodic fragments of large MD cells: what gets labelled when the exploration runs cells too large for DFT.

A potential that passes MD in 8- or 16-atom cells can still extrapolate in the few-hundred-atom cells a
user runs: more atoms and more steps reach rarer local environments. Exploring in large cells shows
them, but labelling a whole 512-atom frame with DFT is out of reach. As in the ACE active-learning
paper (Lysogorskiy et al., npj Comput. Mater. 2023: local environments from large-scale MD) and
NEPMaker's locally periodic fragments, the frame is cut instead: a block of the lattice around its
atom of largest gamma, made periodic, small enough to label.

Pure helpers (numpy and ASE). An MD cell is a repetition of a smaller cell (the exploration repeats a
training frame): :func:`lattice_repeats` finds the repeats of the starting cell along its cell vectors.
LAMMPS keeps the atom order, so a frame's atom ``k`` sits near the starting cell's atom ``k`` (its site).
:func:`cut_fragment` takes the atoms whose sites lie in a box of whole blocks centred on the site of the
frame's highest-gamma atom (at most ``max_atoms`` atoms, grown along the shortest fragment vector
first), each at its site plus its displacement in the frame, in the cell of the box (the frame's cell
vectors times blocks / repeats). The centre atom keeps its real neighbours out to half the box; where
the box's faces meet across the periodic boundary, thermal displacements that were independent sit
side by side, a configuration DFT labels like any other (a contact shorter than any in the frame is the
cut's: the selection cuts such a fragment larger, or settles the atoms of those contacts on their sites).
A tapered cut (``first_shell``: only the centre and its first shell keep their displacements) removes
those contacts but also most of the extrapolation
grade the frame's atom had, so the selection does not use it (docs/exploration.rst, "Why not tapered").
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

#: Largest position mismatch (A) for a translation to count as a symmetry of the starting cell.
TRANSLATION_TOLERANCE = 1e-3
#: Nearest-site distances of a tapered cut's first shell (fcc, hcp, diamond; the first two shells of bcc).
FIRST_SHELL = 1.25


def _maps_onto_itself(atoms: Atoms, shift: np.ndarray) -> bool:
    """Return whether translating ``atoms`` by ``shift`` (Cartesian) maps every atom onto one of the same element."""
    cell = atoms.cell.array
    inverse = np.linalg.inv(cell)
    moved = (atoms.positions + shift) @ inverse
    frac = atoms.positions @ inverse
    numbers = atoms.numbers
    for number in np.unique(numbers):
        same = numbers == number
        delta = moved[same][:, None, :] - frac[same][None, :, :]
        delta -= np.round(delta)
        distances = np.linalg.norm(delta @ cell, axis=2)
        if np.any(distances.min(axis=1) > TRANSLATION_TOLERANCE):
            return False
    return True


def lattice_repeats(atoms: Atoms) -> np.ndarray:
    """Return how often a periodic cell repeats a smaller one along each cell vector.

    ``repeats[i]`` is the largest ``r`` such that translating by cell vector ``i`` / ``r`` maps the cell
    onto itself (every atom onto one of the same element); (1, 1, 1) for a cell that repeats nothing.
    """
    count = len(atoms)
    repeats = np.ones(3, dtype=int)
    for axis in range(3):
        for candidate in range(count, 1, -1):
            if count % (candidate * repeats[:axis].prod()):
                continue
            if _maps_onto_itself(atoms, atoms.cell.array[axis] / candidate):
                repeats[axis] = candidate
                break
    return repeats


def fragment_size(repeats, atoms_per_block: int, lengths, max_atoms: int) -> np.ndarray:
    """Return the blocks per cell vector of a fragment: one block, then one more along the shortest
    fragment vector while the fragment stays within ``max_atoms`` atoms and the repeats."""
    size = np.ones(3, dtype=int)
    lengths = np.asarray(lengths, dtype=float) / np.asarray(repeats)
    while True:
        growable = [
            axis
            for axis in range(3)
            if size[axis] < repeats[axis]
            and atoms_per_block * size.prod() // size[axis] * (size[axis] + 1) <= max_atoms
        ]
        if not growable:
            return size
        axis = min(growable, key=lambda axis: (lengths[axis] * size[axis], axis))
        size[axis] += 1


def _centred(values: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Return ``values`` shifted by whole periods into ``[-period / 2, period / 2)``."""
    return values - np.floor(values / period + 0.5) * period


def cut_fragment(
    frame: Atoms,
    repeats,
    sites,
    centre: int,
    max_atoms: int,
    first_shell: float | None = None,
    settle_below: float | None = None,
) -> Atoms:
    """Return the periodic fragment of ``frame`` around atom ``centre``, at most ``max_atoms`` atoms (but at
    least one block).

    ``repeats`` (:func:`lattice_repeats`) and ``sites`` (the fractional positions of the atoms in the
    starting cell) describe the frame's starting cell. The fragment holds the atoms whose sites lie in a
    box of whole blocks centred on the centre atom's site (one of each site of the smaller lattice), each
    at its site plus its displacement in the frame. With ``first_shell`` (e.g. :data:`FIRST_SHELL`) the cut
    is tapered: only the centre and the atoms whose sites lie within that many nearest-site distances of
    its site keep their displacements, the others sit at their sites plus the fragment's mean
    displacement (its local drift). With ``settle_below`` (the frame's own shortest distance: a shorter
    contact is made by the cut, where the box's faces meet) atoms in such contacts are settled the same
    way, one at a time and the farthest from the centre's site first, until no contact is shorter or only
    the centre is left in one: the centre and its neighbours keep the displacements the MD gave them. Its
    ``info['fragment']`` records the centre atom, the blocks per cell vector, the atoms of the frame it
    took (in the fragment's order), how many kept their displacements (``shell``) and the frame atoms
    settled (``settled``). Raises ``ValueError`` if the box does not hold a whole number of blocks'
    atoms (sites off the lattice).
    """
    repeats = np.asarray(repeats, dtype=int)
    sites = np.asarray(sites, dtype=float) * repeats  # in blocks
    atoms_per_block = len(frame) // int(repeats.prod())
    size = fragment_size(repeats, atoms_per_block, frame.cell.lengths(), max_atoms)
    relative = _centred(sites - sites[centre] + 1e-6, repeats)  # the box's faces off the sites of a perfect lattice
    taken = np.flatnonzero(np.all((relative >= -size / 2) & (relative < size / 2), axis=1))
    if len(taken) != atoms_per_block * size.prod():
        raise ValueError(f'{len(taken)} atoms in a box of {size.tolist()} blocks of {atoms_per_block}')
    displacement = _centred(frame.get_scaled_positions(wrap=False) * repeats - sites, repeats)[taken]
    reach = np.linalg.norm(relative[taken] @ (frame.cell.array / repeats[:, None]), axis=1)
    shell = np.ones(len(taken), dtype=bool)
    if first_shell is not None:
        shell = reach <= first_shell * np.min(reach[reach > 1e-3], initial=np.inf)
        displacement[~shell] = displacement.mean(axis=0)
    cell = frame.cell.array * (size / repeats)[:, None]

    def build() -> Atoms:
        scaled = ((relative[taken] + displacement) / size + 0.5) % 1.0
        return Atoms(frame.numbers[taken], cell=cell, scaled_positions=scaled, pbc=True)

    fragment = build()
    settled = np.zeros(len(taken), dtype=bool)
    if settle_below is not None:
        drift = displacement.mean(axis=0)
        while True:
            # one atom at a time, the one in a contact that lies farthest from the centre's site
            in_contact = np.unique(neighbor_list('i', fragment, settle_below))
            movable = in_contact[(reach[in_contact] > 1e-3) & ~settled[in_contact]]
            if not len(movable):
                break
            farthest = movable[np.argmax(reach[movable])]
            displacement[farthest] = drift
            settled[farthest] = True
            fragment = build()
    fragment.info['fragment'] = {
        'centre': int(centre),
        'blocks': [int(value) for value in size],
        'repeats': [int(value) for value in repeats],
        'atoms': [int(index) for index in taken],
        'shell': int(shell.sum()),
        'settled': [int(index) for index in taken[settled]],
    }
    return fragment
