"""Starting cells of the exploration and merging of training sets."""

from __future__ import annotations

from aiida.engine import run_get_node

from aiida_mlip_autopipe.campaign.functions import merge_training_sets, starting_frames
from aiida_mlip_autopipe.data import TrainingSet


def test_one_starting_cell_per_composition_of_at_least_min_atoms(labelled_frames):
    cells = starting_frames(labelled_frames, max_structures=10, min_atoms=32, seed=0)
    formulas = sorted(atoms.get_chemical_formula(empirical=True) for atoms in cells)
    assert formulas == ['Al', 'Au3Cu', 'AuCu3', 'Cu']
    assert all(len(atoms) >= 32 and atoms.calc is None for atoms in cells)
    assert starting_frames(labelled_frames, 10, 32, seed=0)[0] == cells[0]  # deterministic
    assert len(starting_frames(labelled_frames, max_structures=2, min_atoms=8, seed=0)) == 2


def test_merge_keeps_each_configuration_once(aiida_profile, labelled_frames):
    first = TrainingSet(frames=labelled_frames[:5]).store()
    second = TrainingSet(frames=labelled_frames[3:]).store()
    merged, node = run_get_node(merge_training_sets, previous=first, new=second)
    assert node.is_finished_ok and merged.count == 8
