"""EOS validation helpers: the same calculator on both sides agrees; a different one does not."""

from __future__ import annotations

import pytest
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms
from aiida_mlip_autopipe.validation.eos import compare_eos_frames, reference_cell, strained_series


def eos_frames(elements):
    frames = []
    for name, atoms in reference_cell(elements).items():
        for index, scaled in enumerate(strained_series(atoms)):
            scaled.info['config_type'] = f'eos_{name}_{index}'
            frames.append(scaled)
    return label_atoms(frames, 'emt')


def test_validation_cells_of_a_binary():
    cells = reference_cell(['Cu', 'Au'])
    assert sorted(cells) == ['Au', 'Cu', 'Cu3Au']
    assert cells['Cu3Au'].get_chemical_formula() == 'AuCu3'
    series = strained_series(cells['Cu'])
    assert series[0].get_volume() == pytest.approx(cells['Cu'].get_volume() * 0.94)


def test_same_calculator_agrees_and_lattice_is_emts():
    result = compare_eos_frames(eos_frames(['Cu', 'Au']), EMT())
    assert set(result) == {'Au', 'Cu', 'Cu3Au'}
    for row in result.values():
        assert abs(row['relative_error']['lattice_a']) < 1e-9
        assert abs(row['relative_error']['bulk_modulus']) < 1e-9
    # EMT's Cu: a = 3.59 A, B = 134 GPa (ASE's EMT parametrisation)
    assert result['Cu']['labeller']['lattice_a'] == pytest.approx(3.59, abs=0.01)
    assert result['Cu']['labeller']['bulk_modulus_gpa'] == pytest.approx(134, rel=0.05)


def test_a_different_potential_shows_its_error():
    from ase.calculators.lj import LennardJones

    frames = [atoms for atoms in eos_frames(['Cu']) if atoms.info['config_type'].startswith('eos_Cu_')]
    result = compare_eos_frames(frames, LennardJones(sigma=2.34, epsilon=0.4, rc=6.0))
    assert abs(result['Cu']['relative_error']['lattice_a']) > 0.01


def test_missing_points_are_reported():
    frames = eos_frames(['Cu'])[:3]
    assert compare_eos_frames(frames, EMT()) == {'Cu': {'error': 'only 3 of 5 EOS points were labelled'}}
