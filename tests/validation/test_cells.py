"""The validation cells: end members, the ordered compound and one disordered cell per composition."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from aiida_mlip_autopipe.common.composition import site_counts
from aiida_mlip_autopipe.validation.cells import (
    cell_kind,
    cell_names,
    check_compositions,
    validation_cells,
)

COMPOSITIONS = [{'Cu': 1.0, 'Au': 0.0}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.25, 'Au': 0.75}, {'Cu': 0.9, 'Au': 0.1}]


def unlike_fraction(atoms, cutoff: float) -> float:
    """Fraction of the pairs closer than ``cutoff`` whose two atoms differ (counted here, not by icet)."""
    first, second = neighbor_list('ij', atoms, cutoff)
    return float(np.mean(atoms.numbers[first] != atoms.numbers[second]))


@pytest.fixture(scope='module')
def cells():
    return validation_cells(['Cu', 'Au'], COMPOSITIONS, seed=3)


def test_one_disordered_cell_per_composition_with_both_elements(cells):
    assert list(cells) == ['Cu', 'Au', 'Cu3Au', 'Cu16Au16_sqs', 'Cu8Au24_sqs', 'Cu29Au3_sqs']
    assert list(cells) == cell_names(['Cu', 'Au'], COMPOSITIONS)
    assert [cell_kind(name, ['Cu', 'Au']) for name in cells] == ['element'] * 2 + ['ordered'] + ['sqs'] * 3
    sqs = cells['Cu8Au24_sqs']
    assert len(sqs) == 32 and sqs.get_chemical_symbols().count('Au') == 24
    # fcc sites of the 2x2x2 cube: every atom has 12 neighbours at a / sqrt(2)
    a = sqs.cell.lengths()[0] / 2
    assert np.allclose(sqs.cell.array, np.eye(3) * 2 * a)
    assert np.bincount(neighbor_list('i', sqs, a * 0.8), minlength=32).tolist() == [12] * 32
    # Vegard's volume between EMT-like reference crystals (Cu 11.8, Au 17.0 A^3 per atom)
    assert sqs.get_volume() / 32 == pytest.approx(0.25 * 11.81 + 0.75 * 16.96, rel=0.01)


def test_disordered_cells_are_close_to_random(cells):
    """First and second shells: unlike pairs as in the random alloy, 2 x (1 - x)."""
    for name, x in (('Cu16Au16_sqs', 0.5), ('Cu8Au24_sqs', 0.75)):
        atoms = cells[name]
        a = atoms.cell.lengths()[0] / 2
        assert unlike_fraction(atoms, 0.8 * a) == pytest.approx(2 * x * (1 - x), abs=0.03), name
        shells = neighbor_list('d', atoms, 1.1 * a)
        second = neighbor_list('ij', atoms, 1.1 * a)
        mask = shells > 0.8 * a
        unlike = np.mean(atoms.numbers[second[0][mask]] != atoms.numbers[second[1][mask]])
        assert unlike == pytest.approx(2 * x * (1 - x), abs=0.07), name
    # the ordered compound is not random: in L1_2 every Au has 12 Cu neighbours
    assert unlike_fraction(cells['Cu3Au'], 2.7) == pytest.approx(0.5)


def test_the_same_seed_gives_the_same_cell(cells):
    again = validation_cells(['Cu', 'Au'], [{'Cu': 0.5, 'Au': 0.5}], seed=3)['Cu16Au16_sqs']
    assert again.get_chemical_symbols() == cells['Cu16Au16_sqs'].get_chemical_symbols()
    np.testing.assert_allclose(again.positions, cells['Cu16Au16_sqs'].positions)
    other = validation_cells(['Cu', 'Au'], [{'Cu': 0.5, 'Au': 0.5}], seed=4)['Cu16Au16_sqs']
    assert not np.allclose(other.positions, again.positions)


def test_counts_and_lattices():
    assert site_counts({'Cu': 2 / 3, 'Au': 1 / 3}, 32) == {'Cu': 21, 'Au': 11}
    assert cell_names(['Fe', 'Al'], [{'Fe': 0.5, 'Al': 0.5}])[-1] == 'Fe8Al8_sqs'  # bcc: 16 sites
    assert cell_names(['Mg', 'Al'], [{'Mg': 0.5, 'Al': 0.5}]) == ['Mg', 'Al']  # hcp: no disordered cell
    assert cell_names(['Cu'], []) == ['Cu']


def test_one_repeat_gives_the_smallest_ordered_cell():
    """``sqs_supercell: 1``, the demo size: Al3Mg on the 4-site cube is L1_2 (every Mg has 12 Al neighbours)."""
    assert cell_names(['Al', 'Mg'], [{'Al': 0.75, 'Mg': 0.25}], repeat=1) == ['Al', 'Mg', 'Al3Mg1_sqs']
    cell = validation_cells(['Al', 'Mg'], [{'Al': 0.75, 'Mg': 0.25}], seed=0, repeat=1)['Al3Mg1_sqs']
    assert len(cell) == 4 and cell.get_chemical_symbols() == ['Al', 'Al', 'Al', 'Mg']
    assert unlike_fraction(cell, 0.8 * cell.cell.lengths()[0]) == pytest.approx(0.5)
    assert cell_names(['Fe', 'Al'], [{'Fe': 0.5, 'Al': 0.5}], repeat=1)[-1] == 'Fe1Al1_sqs'  # bcc: B2


@pytest.mark.parametrize(
    ('compositions', 'message'),
    [
        ([{'Cu': 0.5, 'Ni': 0.5}], 'entry 0 names Ni; the elements are Cu, Au'),
        ([{'Cu': 0.5, 'Au': 0.6}], 'entry 0: fractions must be non-negative and sum to 1'),
        ([{'Cu': 1.0}, 0.5], 'entry 1 is 0.5; give a mapping'),
    ],
)
def test_bad_compositions_are_named(compositions, message):
    with pytest.raises(ValueError, match=message):
        check_compositions(['Cu', 'Au'], compositions)
