"""``TrainingSet``: round trips, exports, merging and content hashing."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from aiida_mlip_autopipe.data import TrainingSet


def assert_same_frames(left, right, atol=1e-10):
    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=atol)
        np.testing.assert_allclose(a.cell.array, b.cell.array, rtol=0, atol=atol)
        assert (a.pbc == b.pbc).all()
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=atol)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), rtol=0, atol=atol)
        np.testing.assert_allclose(a.get_stress(), b.get_stress(), rtol=0, atol=atol)


def test_round_trip_through_storage(aiida_profile, labelled_frames):
    node = TrainingSet(frames=labelled_frames).store()
    loaded = TrainingSet.collection.get(pk=node.pk)
    assert loaded.count == 8
    assert loaded.atom_count == sum(len(atoms) for atoms in labelled_frames)
    assert loaded.elements == ['Al', 'Au', 'Cu']
    frames = loaded.to_atoms()
    assert_same_frames(frames, labelled_frames)
    assert frames[3].info == {'source_uuid': '00000000-0000-0000-0000-000000000003', 'config_type': 'frame3'}


def test_missing_labels_stay_missing(aiida_profile, labelled_frames):
    unlabelled = labelled_frames[0].copy()  # copy() drops the calculator
    arrays = TrainingSet(frames=[unlabelled]).get_arrays()
    assert np.isnan(arrays['energies']).all() and np.isnan(arrays['stresses']).all()
    (atoms,) = TrainingSet(frames=[unlabelled]).iter_atoms()
    assert atoms.calc is None


def copies(frames):
    """Independent copies of ``frames`` with the same labels and info."""
    result = []
    for original in frames:
        copy = original.copy()
        copy.calc = original.calc
        copy.info = dict(original.info)
        result.append(copy)
    return result


def test_identical_content_has_identical_hash(aiida_profile, labelled_frames):
    first = TrainingSet(frames=labelled_frames).store()
    second = TrainingSet(frames=copies(labelled_frames)).store()
    assert first.sha256 == second.sha256
    assert first.base.caching.get_hash() == second.base.caching.get_hash()

    moved = copies(labelled_frames)
    moved[0].positions[0, 0] += 1e-3
    third = TrainingSet(frames=moved).store()
    assert third.sha256 != first.sha256
    assert third.base.caching.get_hash() != first.base.caching.get_hash()


def test_merge_keeps_duplicates_once(aiida_profile, labelled_frames):
    first = TrainingSet(frames=labelled_frames[:5])
    second = TrainingSet(frames=labelled_frames[3:] + labelled_frames[:1])
    merged = first.merge(second)
    assert merged.count == 8
    assert_same_frames(merged.to_atoms(), labelled_frames)
    assert len(set(merged.fingerprints())) == 8


def test_extxyz_export(aiida_profile, labelled_frames, tmp_path):
    path = tmp_path / 'set.extxyz'
    TrainingSet(frames=labelled_frames).to_extxyz(path)
    assert_same_frames(ase.io.read(path, index=':'), labelled_frames, atol=1e-7)  # extxyz keeps 8 decimals


def test_pacemaker_dataframe(aiida_profile, labelled_frames, tmp_path):
    references = {'Cu': -1.0, 'Au': -2.0, 'Al': -0.5}
    node = TrainingSet(frames=labelled_frames)
    frame = node.to_pacemaker_dataframe(reference_energies=references)
    assert list(frame.columns) == ['ase_atoms', 'energy', 'forces', 'energy_corrected']
    for row, atoms in zip(frame.itertuples(), labelled_frames):
        shift = sum(references[s] for s in atoms.get_chemical_symbols())
        assert row.energy == pytest.approx(atoms.get_potential_energy())
        assert row.energy_corrected == pytest.approx(atoms.get_potential_energy() - shift)
        np.testing.assert_allclose(row.forces, atoms.get_forces())
    path = tmp_path / 'data.pkl.gz'
    node.to_pacemaker_pickle(path)
    import pandas as pd

    assert len(pd.read_pickle(path, compression='gzip')) == 8


def test_inconsistent_arrays_are_refused(aiida_profile, labelled_frames):
    arrays = TrainingSet(frames=labelled_frames).get_arrays()
    arrays['natoms'] = arrays['natoms'] + 1
    with pytest.raises(ValueError, match='natoms'):
        TrainingSet.from_arrays(arrays)
    del arrays['forces']
    with pytest.raises(ValueError, match='forces'):
        TrainingSet.from_arrays(arrays)


def test_empty_set(aiida_profile):
    node = TrainingSet(frames=[]).store()
    assert node.count == 0 and node.to_atoms() == [] and node.elements == []
