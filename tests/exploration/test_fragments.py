"""Periodic fragments of large MD cells: the repeats of a starting cell, the cut, and the selection that labels them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list

from aiida_mlip_autopipe.exploration.fragments import FIRST_SHELL, cut_fragment, fragment_size, lattice_repeats

from .conftest import FIXTURE, cuau_cell


def _thermal(atoms, stdev=0.1, seed=0):
    frame = atoms.copy()
    frame.positions += np.random.default_rng(seed).normal(0.0, stdev, frame.positions.shape)
    return frame


def test_lattice_repeats_finds_how_often_the_starting_cell_repeats_a_smaller_one():
    assert lattice_repeats(bulk('Si', cubic=True).repeat((4, 4, 4))).tolist() == [4, 4, 4]
    # a decorated, rattled cell repeats only as often as it was repeated; alone it repeats nothing
    base = cuau_cell(0.25, repeat=(2, 1, 1), seed=1)
    base.rattle(0.05, seed=2)
    assert lattice_repeats(base.repeat((3, 2, 1))).tolist() == [3, 2, 1]
    assert lattice_repeats(base).tolist() == [1, 1, 1]


def test_fragment_size_grows_along_the_shortest_vector_within_the_limits():
    assert fragment_size((4, 4, 4), 8, (20.0, 20.0, 20.0), 16).tolist() == [2, 1, 1]
    assert fragment_size((4, 4, 4), 8, (20.0, 20.0, 20.0), 64).tolist() == [2, 2, 2]
    assert fragment_size((4, 4, 4), 8, (20.0, 20.0, 20.0), 4).tolist() == [1, 1, 1]  # at least one block
    assert fragment_size((1, 4, 4), 8, (5.0, 20.0, 20.0), 32).tolist() == [1, 2, 2]  # no more than the repeats


def test_a_fragment_of_a_repeated_cell_is_the_repeated_starting_cell_wherever_it_is_cut():
    """Cut around any atom, a fragment of an undisplaced repetition of a rattled, decorated cell is that cell
    repeated (same EMT energy): every atom lands at its own site, none twice, across the cell's boundary."""
    base = cuau_cell(0.25, repeat=(1, 1, 1), seed=3)
    base.rattle(0.05, seed=4)
    big = base.repeat((3, 3, 3))
    big.positions += 0.4  # a small drift, and atoms wrapped across the cell's faces as LAMMPS dumps them
    big.wrap()
    start = base.repeat((3, 3, 3))
    repeats, sites = lattice_repeats(start), start.get_scaled_positions()
    for centre in range(0, len(big), 7):
        fragment = cut_fragment(big, repeats, sites, centre, 8)
        assert len(fragment) == 8 and fragment.info['fragment']['blocks'] == [2, 1, 1]
        reference = base.repeat(fragment.info['fragment']['blocks'])
        fragment.calc, reference.calc = EMT(), EMT()
        assert fragment.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-8), centre


def test_the_fragment_keeps_the_environment_of_its_centre_atom():
    """In a thermal frame the centre atom sits in the middle of the fragment with its real first shell (the
    bonds that make its gamma), at the frame's distances, whichever atom it is."""
    start = bulk('Si', cubic=True).repeat((4, 4, 4))
    repeats, sites = lattice_repeats(start), start.get_scaled_positions()
    frame = _thermal(start)
    for centre in (0, 77, 300, 511):
        fragment = cut_fragment(frame, repeats, sites, centre, 16)
        assert len(fragment) == 16 and fragment.info['fragment']['blocks'] == [2, 1, 1]
        inside = fragment.info['fragment']['atoms'].index(centre)
        first, distances = neighbor_list('id', frame, 3.0)
        expected = np.sort(distances[first == centre])
        first, distances = neighbor_list('id', fragment, 3.0)
        assert len(expected) == 4
        assert np.sort(distances[first == inside]) == pytest.approx(expected, abs=1e-9)
        assert np.all(np.abs(fragment.get_scaled_positions()[inside] - 0.5) < 0.05)


def test_a_tapered_cut_puts_atoms_beyond_the_first_shell_at_their_sites_moved_by_the_local_drift():
    """Tapered (``first_shell``), only the centre and its first shell keep their thermal displacements; every
    other atom sits at its site moved by the fragment's mean displacement. Untapered (the default), every atom
    keeps its displacement."""
    silicon, copper = bulk('Si', cubic=True).repeat((4, 4, 4)), bulk('Cu', cubic=True).repeat((4, 4, 4))
    for start, max_atoms, shell in ((silicon, 8, 5), (copper, 32, 13)):
        repeats, sites = lattice_repeats(start), start.get_scaled_positions()
        frame = _thermal(start, 0.15, seed=7)
        for centre in (0, 101, 255):
            assert cut_fragment(frame, repeats, sites, centre, max_atoms).info['fragment']['shell'] == max_atoms
            fragment = cut_fragment(frame, repeats, sites, centre, max_atoms, FIRST_SHELL)
            taken = fragment.info['fragment']['atoms']
            assert fragment.info['fragment']['shell'] == shell
            inside = taken.index(centre)
            ideal = start.get_distances(centre, taken, mic=True, vector=True)
            first_shell = np.linalg.norm(ideal, axis=1) <= 1.25 * np.sort(np.linalg.norm(ideal, axis=1))[1]
            assert first_shell.sum() == shell
            # the first shell around the centre as in the frame
            offsets = fragment.get_distances(inside, range(len(fragment)), mic=True, vector=True)
            real = frame.get_distances(centre, taken, mic=True, vector=True)
            assert offsets[first_shell] == pytest.approx(real[first_shell], abs=1e-9)
            # the others at their sites, moved by the mean displacement of the fragment's atoms in the frame
            drift = (frame.positions - start.positions)[taken].mean(axis=0)
            centre_site = fragment.positions[inside] - (frame.positions[centre] - start.positions[centre])
            placed = (fragment.positions[~first_shell] - centre_site - ideal[~first_shell] - drift) @ np.linalg.inv(
                fragment.cell.array
            )
            assert placed - np.round(placed) == pytest.approx(0.0, abs=1e-9)  # up to the fragment's periods


def test_the_selection_labels_the_fragment_around_the_highest_gamma(aiida_profile):
    """With `label_atoms`, a 108-atom candidate frame is replaced by its 8-atom fragment around the atom of
    largest gamma before MaxVol picks; the trajectory of the MD run carries the sites of its starting cell."""
    from aiida_mlip_autopipe.common.python_task import trajectory_arrays
    from aiida_mlip_autopipe.exploration.parsers import frames_to_trajectory
    from aiida_mlip_autopipe.exploration.selection import choose_frames, frames_from_arrays

    start = cuau_cell(0.25, repeat=(1, 1, 1), seed=5).repeat((3, 3, 3))
    frames = []
    for index, hot in enumerate((11, 50, 97)):
        frame = _thermal(start, 0.25, seed=index)  # hot enough to be new to the fixture potential
        frame.arrays['gamma'] = np.full(len(frame), 1.2)
        frame.arrays['gamma'][hot] = 4.0 + index
        frame.info['step'] = 100 * (index + 1)
        frames.append(frame)
    arrays = trajectory_arrays(frames_to_trajectory(frames, start))
    assert arrays['repeats'] == [3, 3, 3]
    runs = {'run_000': frames_from_arrays(arrays)}
    files = {'yaml': str(FIXTURE / 'potential.yaml'), 'asi': str(FIXTURE / 'potential.asi')}
    parameters = {'gamma_lower': 1.5, 'gamma_upper': 10.0, 'max_selected': 3, 'label_atoms': 8}
    chosen, report = choose_frames(runs, parameters, files)
    assert chosen and all(len(atoms) == 8 for atoms in chosen.values())
    for key, entry in report['selected'].items():
        step, centre = (int(part) for part in key.split('_step')[1].split('_atom'))
        assert entry['fragment']['centre'] == centre == (11, 50, 97)[step // 100 - 1]
        assert entry['fragment']['frame_atoms'] == 108 and entry['fragment']['blocks'] == [2, 1, 1]
    assert {entry['reason'] for entry in report['not_selected'].values()} >= {'fragmented'}
    # a frame whose atoms no longer sit on the starting cell's sites gives no fragment: it is dropped with
    # its reason (too large to label whole), the others are still fragmented
    broken = runs['run_000'][0]
    broken.arrays['site'] = np.tile(broken.arrays['site'][11], (len(broken), 1))
    chosen, report = choose_frames(runs, parameters, files)
    assert report['not_selected']['run_000_step00000100']['reason'] == 'fragment_failed'
    assert chosen and all(len(atoms) == 8 and '_step00000100' not in key for key, atoms in chosen.items())
    # without `label_atoms` the whole frames are labelled
    chosen, _ = choose_frames(runs, {**parameters, 'label_atoms': None}, files)
    assert chosen and all(len(atoms) == 108 for atoms in chosen.values())


def test_a_frame_gives_a_fragment_per_extrapolative_region():
    """Two distant atoms above gamma_lower give two fragments (largest gamma first); an atom inside the first
    fragment gives none of its own; atoms below gamma_lower none; at most `limit`."""
    from aiida_mlip_autopipe.exploration.selection import fragments_of

    start = bulk('Si', cubic=True).repeat((4, 4, 4))
    frame = _thermal(start)
    frame.arrays['site'] = start.get_scaled_positions()
    frame.info.update(repeats=[4, 4, 4], step=10)
    neighbour = int(np.argsort(frame.get_distances(0, range(len(frame)), mic=True))[1])
    far = int(np.argmax(frame.get_distances(0, range(len(frame)), mic=True)))
    frame.arrays['gamma'] = np.full(len(frame), 1.0)
    frame.arrays['gamma'][[0, neighbour, far]] = [9.0, 8.0, 3.0]
    fragments = fragments_of(frame, 16, 1.5, limit=8)
    assert [fragment.info['fragment']['centre'] for fragment in fragments] == [0, far]
    assert [fragment.info['max_gamma'] for fragment in fragments] == [9.0, 3.0]
    assert len(fragments_of(frame, 16, 1.5, limit=1)) == 1
    assert fragments_of(frame, 512, 1.5, limit=8) == [frame]  # not larger than the limit: the whole frame


def test_a_fragment_that_lost_the_extrapolation_is_cut_larger_until_it_keeps_it(aiida_profile):
    """A 256-atom frame, graded by the fixture potential's active set as LAMMPS grades it, whose most extrapolative
    atom (3.4) is graded 1.4 in its 8-atom fragment and 1.3 in its 16-atom one (what it did not know lies beyond
    their boxes): without `label_atoms_max` MaxVol finds the fragment represented and nothing is labelled; with it
    the fragment is cut larger until the active set grades it at or above `gamma_lower` (32 atoms), and that is
    labelled; a limit below 32 atoms leaves it represented."""
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    from aiida_mlip_autopipe.common.python_task import trajectory_arrays
    from aiida_mlip_autopipe.exploration.parsers import frames_to_trajectory
    from aiida_mlip_autopipe.exploration.selection import choose_frames, frames_from_arrays

    start = cuau_cell(0.25, repeat=(1, 1, 1), seed=5).repeat((4, 4, 4))
    frame = _thermal(start, 0.1, seed=0)
    calculator = PyACECalculator(BBasisConfiguration(str(FIXTURE / 'potential.yaml')))
    calculator.set_active_set(str(FIXTURE / 'potential.asi'))
    frame.calc = calculator
    frame.get_potential_energy()
    frame.arrays['gamma'] = calculator.results['gamma'].copy()
    frame.calc = None
    frame.info['step'] = 10
    assert frame.arrays['gamma'].max() == pytest.approx(3.36, abs=0.01)
    runs = {'run_000': frames_from_arrays(trajectory_arrays(frames_to_trajectory([frame], start)))}
    files = {'yaml': str(FIXTURE / 'potential.yaml'), 'asi': str(FIXTURE / 'potential.asi')}
    parameters = {'gamma_lower': 2.0, 'gamma_upper': 10.0, 'max_selected': 1, 'label_atoms': 8}

    chosen, report = choose_frames(runs, parameters, files)
    assert not chosen
    assert [entry['reason'] for key, entry in report['not_selected'].items() if '_atom' in key] == ['represented']

    chosen, report = choose_frames(runs, {**parameters, 'label_atoms_max': 64}, files)
    assert [len(atoms) for atoms in chosen.values()] == [32]
    (entry,) = report['selected'].values()
    graded = entry['fragment']['graded']
    assert list(graded) == ['8', '16', '32'] and graded['8'] < 2.0 and graded['16'] < 2.0 <= graded['32']
    assert report['not_selected']['run_000_step00000010']['detail'] == 'labelled as 1 fragments of <= 32 atoms'

    chosen, report = choose_frames(runs, {**parameters, 'label_atoms_max': 16}, files)
    assert not chosen


def test_label_atoms_max_needs_fragments_graded_by_an_active_set():
    """`label_atoms_max` is refused without `label_atoms`, with the farthest-point method, or below `label_atoms`."""
    from aiida_mlip_autopipe.exploration.selection import check_selection_settings

    for parameters, words in (
        ({'label_atoms_max': 32}, 'needs `label_atoms`'),
        ({'label_atoms': 8, 'label_atoms_max': 32, 'method': 'farthest_point'}, 'the `maxvol` method'),
        ({'label_atoms': 16, 'label_atoms_max': 8}, 'smaller than `label_atoms` (16)'),
    ):
        with pytest.raises(ValueError, match=re.escape(words)):
            check_selection_settings(parameters)
    assert check_selection_settings({'label_atoms': 8, 'label_atoms_max': 8})['label_atoms_max'] == 8


def test_the_exploration_refuses_label_atoms_max_below_label_atoms_before_any_md(aiida_profile):
    """`ExplorationWorkChain`'s input validation names `selection.label_atoms_max` and what is allowed."""
    from aiida import orm

    from aiida_mlip_autopipe.exploration.workchain import validate_inputs

    inputs = {'structures': {'si': orm.StructureData(ase=bulk('Si', cubic=True))}}
    selection = {'label_atoms': 16, 'label_atoms_max': 8}
    message = validate_inputs({**inputs, 'selection': orm.Dict(selection)}, None)
    assert message == '`selection.label_atoms_max`: 8 is smaller than `label_atoms` (16)'
    assert validate_inputs({**inputs, 'selection': orm.Dict({**selection, 'label_atoms_max': 64})}, None) is None


def test_a_fragment_whose_faces_bring_atoms_closer_than_the_md_cell_did_is_cut_larger_or_settled(aiida_profile):
    """A 256-atom fcc frame whose layers along z are shifted by (0, 2, 1, 0, 0, 0, 0, 0) x 0.2 A: its closest atoms
    are 2.41 A apart, but an 8- or 16-atom fragment (one block in z) around an atom of the second layer joins that
    layer to the image of the first across its face, 2.28 A apart, a contact the MD cell never had. With
    `label_atoms_max` 32 the fragment is cut larger until its faces add no such contact (32 atoms, two blocks in
    z); without it, or with 16, the largest cut allowed has the atoms of its contacts settled on their lattice
    sites (farthest from the centre first) and is labelled at that size, its centre as the MD left it. (A whole
    shifted layer meets its neighbour along the whole face here, so all but the centre are settled; in thermal
    frames a contact made by the cut involves one atom.)"""
    from aiida_mlip_autopipe.common.geometry import min_interatomic_distance
    from aiida_mlip_autopipe.common.python_task import trajectory_arrays
    from aiida_mlip_autopipe.exploration.parsers import frames_to_trajectory
    from aiida_mlip_autopipe.exploration.selection import choose_frames, frames_from_arrays, widen_past_cut_contacts

    a = 3.6
    start = bulk('Cu', 'fcc', a=a, cubic=True).repeat((4, 4, 4))
    layer = np.rint(start.positions[:, 2] / (a / 2)).astype(int) % 8
    frame = start.copy()
    frame.positions[:, 2] += 0.2 * np.array([0, 2, 1, 0, 0, 0, 0, 0])[layer]
    centre = int(np.flatnonzero(layer == 1)[0])
    frame.arrays['gamma'] = np.where(np.arange(len(frame)) == centre, 3.0, 1.0)
    frame.info['step'] = 10
    assert min_interatomic_distance(frame) == pytest.approx(2.408, abs=1e-3)
    runs = {'run_000': frames_from_arrays(trajectory_arrays(frames_to_trajectory([frame], start)))}
    files = {'yaml': str(FIXTURE / 'potential.yaml'), 'asi': str(FIXTURE / 'potential.asi')}
    parameters = {'gamma_lower': 2.0, 'gamma_upper': 10.0, 'max_selected': 1, 'label_atoms': 8}
    fragment_key = f'run_000_step00000010_atom{centre:05d}'

    for label_atoms_max, atoms in ((None, 8), (16, 16)):
        _, report = choose_frames(runs, {**parameters, 'label_atoms_max': label_atoms_max}, files)
        assert report['not_selected']['run_000_step00000010']['detail'] == (
            f'labelled as 1 fragments of <= {atoms} atoms'
        )
        assert report['not_selected'].get(fragment_key, {}).get('reason') != 'too_close'
        assert report['counts']['candidates'] == 1

    _, report = choose_frames(runs, {**parameters, 'label_atoms_max': 32}, files)
    assert report['not_selected']['run_000_step00000010']['detail'] == 'labelled as 1 fragments of <= 32 atoms'
    assert report['not_selected'].get(fragment_key, {}).get('reason') != 'too_close'
    assert report['counts']['candidates'] == 1

    (md_frame,) = runs['run_000']
    cut = cut_fragment(md_frame, md_frame.info['repeats'], md_frame.arrays['site'], centre, 8)
    assert min_interatomic_distance(cut) == pytest.approx(2.28, abs=0.005)
    assert cut.info['fragment']['settled'] == []
    for max_atoms, atoms, settled in ((8, 8, True), (16, 16, True), (32, 32, False), (64, 32, False)):
        widened = widen_past_cut_contacts(md_frame, cut, 2.40, max_atoms)
        assert (len(widened), widened.info['fragment']['centre']) == (atoms, centre)
        assert min_interatomic_distance(widened) >= 2.40
        moved = widened.info['fragment']['settled']
        assert bool(moved) == settled and centre not in moved
        # only the settled atoms moved: the others, the centre first, are where the plain cut has them
        plain = cut_fragment(md_frame, md_frame.info['repeats'], md_frame.arrays['site'], centre, atoms)
        kept = [index for index, atom in enumerate(widened.info['fragment']['atoms']) if atom not in moved]
        assert widened.info['fragment']['atoms'] == plain.info['fragment']['atoms']
        np.testing.assert_allclose(widened.positions[kept], plain.positions[kept], atol=1e-9)
