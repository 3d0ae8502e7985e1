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
    alone, node = run_get_node(merge_training_sets, previous=first)  # one set: a copy, its own output node
    assert node.is_finished_ok and alone.count == 5 and alone.pk != first.pk


def test_ternary_points_far_from_every_frame_get_a_redecorated_cell():
    """Cu, Ag, Au, each pair's equiatomic cell and a Cu2AgAu cell: the centre and the points towards each end
    member lie farther than the stop rule's tolerance from every frame, so their cells are redecorated."""
    from aiida_mlip_autopipe.campaign.config import campaign_from_dict
    from aiida_mlip_autopipe.campaign.functions import composition_distance
    from aiida_mlip_autopipe.campaign.rules import COMPOSITION_TOLERANCE

    frames = []
    for symbols in ('Cu4', 'Ag4', 'Au4', 'Cu2Ag2', 'Cu2Au2', 'Ag2Au2', 'Cu2AgAu'):
        atoms = bulk('Cu', 'fcc', a=3.9, cubic=True)
        atoms.symbols = symbols
        frames.append(atoms)
    frames = label_atoms(frames, 'emt')
    points = campaign_from_dict({'name': 't', 'elements': ['Cu', 'Ag', 'Au'], 'protocol': 'fast'}).compositions()
    cells = starting_frames(frames, points, min_atoms=32, seed=0)
    assert len(cells) == len(points) == 10
    for point in points:  # every point has a cell within one atom of it: the stop rule can be met
        assert min(composition_distance(point, cell) for cell in cells) <= 1 / 32 + 1e-9 < COMPOSITION_TOLERANCE
    formulas = [cell.get_chemical_formula() for cell in cells]
    assert formulas[:7] == ['Cu32', 'Ag32', 'Au32', 'Ag16Cu16', 'Au16Cu16', 'Ag16Au16', 'Ag11Au10Cu11']
    # 32 x (2/3, 1/6, 1/6) = 21.3, 5.3, 5.3: one spare atom, to the largest remainder (float rounding decides)
    assert formulas[7:] == ['Ag6Au5Cu21', 'Ag21Au5Cu6', 'Ag5Au21Cu6']
    centre = cells[6]  # made from the 32-site repeat of Cu2AgAu: same sites, same cell
    assert abs(centre.cell.volume - frames[-1].cell.volume * 8) < 1e-6
    assert starting_frames(frames, points, min_atoms=32, seed=0)[6] == centre  # seeded
