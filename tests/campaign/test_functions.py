"""Starting cells of the exploration and merging of training sets."""

from __future__ import annotations

import numpy as np
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.campaign.functions import merge_training_sets, starting_frames
from aiida_mlip_autopipe.data import TrainingSet
from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms


def _emt_frames():
    """Cu, Au and CuAu cells: each at EMT's lattice parameter and strained or rattled (higher energy)."""
    frames = []
    for symbols, a in (('Cu', 3.59), ('Au', 4.06), ('CuAu', 3.83)):
        for change in ('strain', 'plain', 'rattle'):
            atoms = bulk('Cu', 'fcc', a=a * (1.04 if change == 'strain' else 1.0), cubic=True)
            atoms.symbols = {'Cu': 'Cu4', 'Au': 'Au4', 'CuAu': 'Cu2Au2'}[symbols]
            if change == 'rattle':
                atoms.rattle(0.1, seed=1)
            atoms.info['change'] = change
            frames.append(atoms)
    return label_atoms(frames, 'emt')


def test_one_starting_cell_per_composition_point_the_lowest_in_energy():
    frames = _emt_frames()
    points = [{'Cu': 1.0, 'Au': 0.0}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.0, 'Au': 1.0}, {'Cu': 0.6, 'Au': 0.4}]
    cells = starting_frames(frames, points, min_atoms=32, seed=0)
    # 0.6 has no frame of its own: its nearest is CuAu, already taken
    assert [atoms.get_chemical_formula(empirical=True) for atoms in cells] == ['Cu', 'AuCu', 'Au']
    assert all(len(atoms) == 32 and atoms.calc is None for atoms in cells)
    plain = {frame.get_chemical_formula(): frame for frame in frames if frame.info['change'] == 'plain'}
    for cell in cells:
        twin = plain[cell[:4].get_chemical_formula()]
        assert np.allclose(cell.cell.lengths(), 2 * twin.cell.lengths())  # the unstrained one, repeated
        assert np.allclose(cell.positions[:4], twin.positions)  # not the rattled one
    assert starting_frames(frames[::-1], points, min_atoms=32, seed=0)[1] == cells[1]


def test_merge_keeps_each_configuration_once(aiida_profile, labelled_frames):
    first = TrainingSet(frames=labelled_frames[:5]).store()
    second = TrainingSet(frames=labelled_frames[3:]).store()
    merged, node = run_get_node(merge_training_sets, previous=first, new=second)
    assert node.is_finished_ok and merged.count == 8
