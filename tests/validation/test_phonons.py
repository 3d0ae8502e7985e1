"""Phonons by finite displacements (phonopy) and their comparison: EMT against itself, and against EMT with
its force constants scaled by a known factor."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms
from aiida_mlip_autopipe.validation.cells import validation_cells
from aiida_mlip_autopipe.validation.eos import eos_key
from aiida_mlip_autopipe.validation.phonons import (
    calculator_phonons,
    centring,
    compare_phonons,
    displaced_supercells,
    phonon_spectrum,
)
from aiida_mlip_autopipe.validation.plot import plot_phonon_comparison
from aiida_mlip_autopipe.validation.properties import (
    calculator_properties,
    centred_series,
    check_tolerances,
    has_phonons,
)
from aiida_mlip_autopipe.validation.report import (
    compare_properties,
    format_validation_table,
    labeller_eos,
    labeller_properties,
    property_structures,
)

PROPERTIES = ('eos', 'phonons')
CU = bulk('Cu', 'fcc', a=3.59, cubic=True)


def emt_forces(atoms, scale: float = 1.0) -> list[np.ndarray]:
    """EMT forces of the displaced supercells of ``atoms``, times ``scale``."""
    forces = []
    for cell in displaced_supercells(atoms):
        cell.calc = EMT()
        forces.append(scale * cell.get_forces())
    return forces


@pytest.fixture(scope='module')
def cells():
    return validation_cells(['Cu', 'Au'], [], seed=0)


@pytest.fixture(scope='module')
def emt_rows(cells):
    return calculator_properties(cells, EMT(), properties=PROPERTIES)


def test_emt_against_emt_gives_zero_error(cells, emt_rows, tmp_path):
    """The labeller's route (displaced supercells labelled by EMT, forces handed to phonopy) gives what EMT
    gives directly: zero error, every phonon row passes."""
    frames = []
    for name, atoms in cells.items():
        for index, scaled in enumerate(centred_series(atoms, emt_rows[name]['eos']['centre_volume_per_atom'])):
            scaled.info['config_type'] = eos_key(name, index)
            frames.append(scaled)
    rows, _ = labeller_eos(list(cells), label_atoms(frames, 'emt'))
    structures = property_structures(cells, rows, PROPERTIES)
    # fcc: one displacement (every atom alike); L1_2: one per species
    assert sorted(structures) == ['phonon_Au_0', 'phonon_Cu3Au_0', 'phonon_Cu3Au_1', 'phonon_Cu_0']
    assert {len(atoms) for atoms in structures.values()} == {32}
    for key, atoms in structures.items():
        atoms.info['config_type'] = key
    assert labeller_properties(rows, label_atoms(list(structures.values()), 'emt'), PROPERTIES, cells=cells) == {}
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES, cells=cells)
    assert report['passed'], report['failed']
    for name in ('Cu', 'Au', 'Cu3Au'):
        entry = report['cells'][name]
        assert list(entry['passed'])[2:] == ['max_frequency', 'phonon_rmse', 'phonon_max_error']
        assert entry['error']['phonon_rmse'] == pytest.approx(0, abs=1e-9)
        assert entry['error']['phonon_max_error'] == pytest.approx(0, abs=1e-9)
    # EMT's highest frequencies (THz) at its own lattice parameter; Cu3Au: 3 x 4 bands
    assert report['cells']['Cu']['labeller']['max_frequency'] == pytest.approx(8.14, abs=0.01)
    assert report['cells']['Au']['labeller']['max_frequency'] == pytest.approx(3.48, abs=0.01)
    assert np.shape(report['phonon_bands']['Cu3Au']['labeller']['frequencies']) == (4 * 31, 12)
    assert report['phonon_bands']['Cu']['labels'] == ['Γ', 'X', 'K', 'Γ', 'L']
    assert report['phonon_bands']['Cu3Au']['labels'] == ['Γ', 'X', 'M', 'Γ', 'R']
    png = plot_phonon_comparison(report, tmp_path / 'phonons.png')
    assert png.read_bytes()[:4] == b'\x89PNG'


def test_scaled_force_constants_give_the_known_error():
    """Forces (so force constants) times 1.1^2 give every frequency times 1.1: the RMSE is 0.1 x the RMS
    frequency, the largest error 0.1 x the highest frequency."""
    labeller = phonon_spectrum(CU, emt_forces(CU))
    potential = phonon_spectrum(CU, emt_forces(CU, 1.1**2))
    frequencies = np.asarray(labeller['mesh_frequencies'])
    assert np.asarray(potential['mesh_frequencies']) == pytest.approx(1.1 * frequencies, abs=1e-6)
    highest = labeller['max_frequency']
    loose = compare_phonons(potential, labeller, tolerance=0.11)
    assert loose['rmse'] == pytest.approx(0.1 * np.sqrt(np.mean(frequencies**2)), rel=1e-6)
    assert loose['max_error'] == pytest.approx(0.1 * highest, rel=1e-6)
    assert loose['max_frequency_error'] == pytest.approx(0.1, rel=1e-6)
    assert loose['worst']['labeller'] == pytest.approx(highest) and loose['limit'] == pytest.approx(0.11 * highest)
    assert all(loose['passed'].values())
    # 9 % of the highest frequency: the largest error (10 %) fails, the RMSE (about 6 %) passes
    strict = compare_phonons(potential, labeller, tolerance=0.09)
    assert 0.05 * highest < strict['rmse'] < 0.09 * highest
    assert strict['passed'] == {'max_frequency': False, 'phonon_rmse': True, 'phonon_max_error': False}


def test_failing_phonons_are_named_in_the_report_and_the_table(cells, emt_rows):
    """A potential 10 % too stiff in frequency: the table shows both sides and the limit; the report names each
    failing row."""
    rows = {name: dict(row) for name, row in emt_rows.items()}
    stiff = {name: dict(row) for name, row in emt_rows.items()}
    stiff['Cu']['phonons'] = phonon_spectrum(CU, emt_forces(CU, 1.1**2))
    rows['Cu']['phonons'] = phonon_spectrum(CU, emt_forces(CU))
    report = compare_properties(stiff, rows, check_tolerances({}), PROPERTIES, cells=cells)
    cu = report['cells']['Cu']
    highest = rows['Cu']['phonons']['max_frequency']
    assert cu['phonons']['limit'] == pytest.approx(0.05 * highest)
    assert f'Cu phonon_max_error (+{0.1 * highest:.3f} THz, limit {0.05 * highest:.3f} THz = 5% of' in ' '.join(
        report['failed']
    )
    assert 'Cu max_frequency (+10.0%)' in report['failed']
    lines = format_validation_table(report).splitlines()
    row = next(line for line in lines if line.startswith('  phonon_max_error (THz)'))
    assert row.split()[2:6] == [f'{1.1 * highest:.3f}', f'{highest:.3f}', f'+{0.1 * highest:.3f}', 'FAIL']
    rmse = next(line for line in lines if line.startswith('  phonon_rmse (THz)'))
    assert rmse.split()[2:4] == ['-', '-'] and rmse.split()[5] == 'FAIL'
    assert report['cells']['Au']['passed']['phonon_rmse']


def test_missing_phonon_labels_fail_with_a_reason(cells, emt_rows):
    rows = {name: {'eos': row['eos']} for name, row in emt_rows.items()}
    structures = property_structures(cells, rows, PROPERTIES)
    frames = label_atoms([structures['phonon_Cu3Au_0']], 'emt')
    frames[0].info['config_type'] = 'phonon_Cu3Au_0'
    missing = labeller_properties(rows, frames, PROPERTIES, cells=cells)
    assert missing['Cu3Au'] == {'phonons': 'only 1 of 2 displaced supercells labelled'}
    assert missing['Cu'] == {'phonons': 'only 0 of 1 displaced supercells labelled'}
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES, missing=missing, cells=cells)
    assert report['cells']['Cu3Au']['missing']['phonon_rmse'] == 'only 1 of 2 displaced supercells labelled'
    assert 'Cu3Au phonon_rmse (not computed)' in report['failed']


def test_phonons_of_cubic_cells_only():
    assert (centring(CU), centring(bulk('Fe', cubic=True)), centring(validation_cells(['Cu', 'Au'], [])['Cu3Au'])) == (
        'F',
        'I',
        'P',
    )
    with pytest.raises(ValueError, match='cubic cells only, not space group P6_3/mmc'):
        centring(bulk('Mg'))
    assert not has_phonons('Mg', bulk('Mg'), 'element') and has_phonons('Cu', bulk('Cu'), 'element')
    assert not has_phonons('Cu16Au16_sqs', CU, 'sqs')


def test_a_spectrum_refuses_forces_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r'forces of shape \(2, 32, 3\); the displaced supercells need \(1, 32, 3\)'):
        phonon_spectrum(CU, emt_forces(CU) * 2)
    assert calculator_phonons(CU, EMT())['mesh_frequencies'] == phonon_spectrum(CU, emt_forces(CU))['mesh_frequencies']
