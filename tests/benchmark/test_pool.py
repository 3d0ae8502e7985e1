"""The benchmark's labelled pool and held-out sets: compositions, rare kinds, twins, properties."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from aiida_mlip_autopipe.benchmark import pool


def test_fcc_cells_have_the_composition_and_the_ordered_sublattice():
    rng = np.random.default_rng(0)
    random = pool.fcc_cell(('Cu', 'Au'), 0.25, 'random', rng)
    assert len(random) == 32 and random.get_chemical_symbols().count('Au') == 8
    assert random.cell.lengths()[0] == pytest.approx(2 * (0.75 * 3.61 + 0.25 * 4.08))
    ordered = pool.fcc_cell(('Cu', 'Au'), 0.25, 'ordered', rng, a=4.0)
    gold = [atom.position for atom in ordered if atom.symbol == 'Au']
    assert len(gold) == 8 and all(np.allclose(np.mod(p, 4.0), 0.0) for p in gold)  # L1_2: Au on the corners
    with pytest.raises(ValueError, match='ordered ones'):
        pool.fcc_cell(('Cu', 'Au'), 0.4, 'ordered', rng)
    with pytest.raises(ValueError, match='allowed: Al, Ni'):
        pool.check_elements(('Cu', 'Fe'))


def test_rare_frames_have_each_kind_labelled_with_its_defect():
    rng = np.random.default_rng(3)
    counts = {kind: 1 for kind in pool.RARE_KINDS}
    frames = pool.rare_frames(('Cu', 'Au'), counts, (300.0, 700.0, 1100.0), rng)
    assert Counter(atoms.info['kind'] for atoms in frames) == Counter(pool.RARE_KINDS)
    by_kind = {atoms.info['kind']: atoms for atoms in frames}
    assert len(by_kind['vacancy']) == 31 and len(by_kind['divacancy']) == 30
    assert by_kind['surface'].cell.lengths()[2] > max(by_kind['surface'].positions[:, 2]) + 4.0  # vacuum
    compressed = by_kind['compressed']
    distances = compressed.get_all_distances(mic=True)[np.triu_indices(32, 1)]
    assert distances.min() < 0.86 * 3.61 / np.sqrt(2) * 1.05
    for atoms in frames:
        assert atoms.info['stratum'] == f'rare/{atoms.info["kind"]}'
        assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (len(atoms), 3)


def test_planted_twins_are_near_copies_with_their_own_labels():
    rng = np.random.default_rng(0)
    frames = pool.typical_frames(('Ag', 'Pd'), (300.0,), 1, rng, skip=10, compositions=(0.5,))
    twins = pool.plant_duplicates(frames, [0], rng)
    shift = np.abs(twins[0].positions - frames[0].positions)
    assert 0 < shift.max() < 1e-3 and twins[0].info['twin_of'] == 0
    difference = np.abs(twins[0].get_forces() - frames[0].get_forces()).max()
    assert 0 < difference < 1e-2  # labelled again, not copied
    assert frames[0].info['stratum'] == 'typical/x0.50/random/300K'
    assert [
        atoms.info['stratum'] for atoms in pool.typical_frames(('Ag', 'Pd'), (300.0,), 1, rng, skip=1, every=1)
    ] == [
        'typical/x0.00/random/300K',
        'typical/x0.25/random/300K',
        'typical/x0.25/ordered/300K',
        'typical/x0.50/random/300K',
        'typical/x0.50/ordered/300K',
        'typical/x0.75/random/300K',
        'typical/x0.75/ordered/300K',
        'typical/x1.00/random/300K',
    ]


@pytest.fixture(scope='module')
def properties():
    frames = pool.property_frames(('Cu', 'Au'))
    return frames, pool.property_values(frames, [atoms.get_potential_energy() for atoms in frames])


def test_property_values_of_emt_are_physical(properties):
    _, values = properties
    assert 100 < values['B/A'] < 170 and values['B/B'] > values['B/A']  # Au stiffer than Cu
    assert 0.9 < values['Ef/A-A'] < 1.5 and 0.5 < values['Ef/B-B'] < 1.2
    assert 0.3 < values['Em/A'] < 1.2 and 0.3 < values['Em/B'] < 1.2
    assert all(values[f'C44/{p}'] > 0 and values[f"C'/{p}"] > 0 for p in pool.PHASES)


def test_property_values_do_not_depend_on_per_atom_reference_energies(properties):
    """A model that is right up to an energy per atom of each element has no property error."""
    frames, reference = properties
    shift = {'Cu': 0.37, 'Au': -1.21}
    energies = [a.get_potential_energy() + sum(shift[s] for s in a.get_chemical_symbols()) for a in frames]
    assert pool.property_errors(pool.property_values(frames, energies), reference) == pytest.approx(
        {'vacancy_formation': 0.0, 'vacancy_migration': 0.0, 'bulk_modulus': 0.0, 'elastic': 0.0}, abs=1e-6
    )
    vacancy = [i for i, a in enumerate(frames) if a.info['property'].get('role') == 'vacancy']
    energies = [a.get_potential_energy() for a in frames]
    energies[vacancy[0]] += 0.1  # one vacancy cell 100 meV off: 25 meV mean over the four
    assert pool.property_errors(pool.property_values(frames, energies), reference)[
        'vacancy_formation'
    ] == pytest.approx(25.0)
