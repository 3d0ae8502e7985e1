"""Pure property helpers: elastic constants, vacancy energies, MD stability, the comparison and the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms
from aiida_mlip_autopipe.validation.eos import eos_key, reference_cell
from aiida_mlip_autopipe.validation.plot import plot_eos_comparison
from aiida_mlip_autopipe.validation.properties import (
    calculator_properties,
    centred_series,
    check_tolerances,
    md_stability,
    vacancy_cells,
)
from aiida_mlip_autopipe.validation.report import (
    compare_properties,
    format_validation_table,
    labeller_eos,
    labeller_properties,
    property_structures,
)

FIXTURE = Path(__file__).parent.parent / 'fixtures' / 'ace_cuau'
PROPERTIES = ('eos', 'elastic', 'vacancy')


def emt_cubic_constants_from_energy(a: float) -> dict[str, float]:
    """C11, C12, C44 (GPa) of EMT fcc Cu from energy curvature (not stress): an independent route."""
    atoms = bulk('Cu', 'fcc', a=a, cubic=True)
    volume = atoms.get_volume()
    strains = np.linspace(-0.004, 0.004, 5)

    def curvature(matrix):
        energies = []
        for strain in strains:
            strained = atoms.copy()
            strained.set_cell(atoms.cell @ (np.eye(3) + strain * matrix).T, scale_atoms=True)
            strained.calc = EMT()
            energies.append(strained.get_potential_energy())
        return 2 * np.polyfit(strains, energies, 2)[0] / volume / GPa

    uniaxial = curvature(np.diag([1.0, 0, 0]))  # C11
    biaxial = curvature(np.diag([1.0, 1.0, 0]))  # 2 (C11 + C12)
    shear = curvature(np.array([[0, 0, 0], [0, 0, 0.5], [0, 0.5, 0]]))  # C44
    return {'c11': uniaxial, 'c12': biaxial / 2 - uniaxial, 'c44': shear}


@pytest.fixture(scope='module')
def emt_rows():
    return calculator_properties(['Cu', 'Au'], EMT(), properties=PROPERTIES)


@pytest.fixture(scope='module')
def ace_calculator():
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    calculator = PyACECalculator(BBasisConfiguration(str(FIXTURE / 'potential.yaml')))
    calculator.set_active_set(str(FIXTURE / 'potential.asi'))
    return calculator


def test_emt_elastic_constants_agree_with_energy_curvature(emt_rows):
    row = emt_rows['Cu']
    expected = emt_cubic_constants_from_energy(row['eos']['lattice_a'])
    for key in ('c11', 'c12', 'c44'):
        assert row['elastic'][key] == pytest.approx(expected[key], rel=0.02), key
    # ASE's EMT Cu: a 3.59 A, C11 173, C12 116, C44 90 GPa; Cu3Au has all three.
    assert row['eos']['lattice_a'] == pytest.approx(3.590, abs=0.005)
    assert row['elastic']['c11'] == pytest.approx(173, abs=4)
    assert set(emt_rows['Cu3Au']['elastic']) == {'c11', 'c12', 'c44'}


def test_vacancy_relaxation_lowers_the_energy(emt_rows):
    row = emt_rows['Cu']['vacancy']
    assert (row['species'], row['sites'], row['relaxed']) == ('Cu', 32, True)
    perfect, defect, _ = vacancy_cells(bulk('Cu', 'fcc', a=emt_rows['Cu']['eos']['lattice_a'], cubic=True))
    perfect.calc, defect.calc = EMT(), EMT()
    unrelaxed = defect.get_potential_energy() - perfect.get_potential_energy() * 31 / 32
    assert 0.9 < row['vacancy_energy'] < unrelaxed
    # Cu3Au loses a Cu (the majority species); its chemical potential is EMT Cu's
    assert emt_rows['Cu3Au']['vacancy']['species'] == 'Cu'


def test_labeller_side_from_labels_equals_direct_route(emt_rows):
    """Single-point labels of the generated structures give what the calculator gives directly."""
    frames = []
    for name, atoms in reference_cell(['Cu', 'Au']).items():
        for index, scaled in enumerate(centred_series(atoms, emt_rows[name]['eos']['centre_volume_per_atom'])):
            scaled.info['config_type'] = eos_key(name, index)
            frames.append(scaled)
    rows, missing = labeller_eos(['Cu', 'Au'], label_atoms(frames, 'emt'))
    assert missing == {}
    structures = property_structures(['Cu', 'Au'], rows, EMT(), PROPERTIES)
    assert len(structures) == 3 * (8 + 2)
    labelled = []
    for key, atoms in structures.items():
        atoms.info['config_type'] = key
        labelled.append(atoms)
    assert labeller_properties(rows, label_atoms(labelled, 'emt'), PROPERTIES) == {}
    for name in rows:
        for key in ('c11', 'c12', 'c44'):
            assert rows[name]['elastic'][key] == pytest.approx(emt_rows[name]['elastic'][key], rel=1e-6)
        assert rows[name]['vacancy']['vacancy_energy'] == pytest.approx(
            emt_rows[name]['vacancy']['vacancy_energy'], abs=2e-3
        )
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES)
    assert report['passed'], report['failed']


def test_a_poor_potential_fails_and_names_the_properties(emt_rows, ace_calculator, tmp_path):
    ace_rows = calculator_properties(['Cu', 'Au'], ace_calculator, properties=PROPERTIES)
    report = compare_properties(ace_rows, emt_rows, check_tolerances({}), PROPERTIES)
    cu = report['cells']['Cu']
    # the fixture (48 functions, 80 EMT frames) has EMT's lattice but not its curvature
    assert cu['passed']['lattice_a'] and abs(cu['error']['lattice_a']) < 0.005
    assert not cu['passed']['bulk_modulus'] and cu['error']['bulk_modulus'] > 0.2
    named = f'Cu bulk_modulus ({cu["error"]["bulk_modulus"]:+.1%})'
    assert named in report['failed']
    loose = compare_properties(ace_rows, emt_rows, check_tolerances({'bulk_modulus': 0.5}), PROPERTIES)
    assert named not in loose['failed'] and 'Cu c11' in ' '.join(loose['failed'])
    table = format_validation_table(report)
    assert 'Cu       bulk_modulus (GPa)' in table and 'FAIL' in table
    png = plot_eos_comparison(report, tmp_path / 'eos.png')
    assert png.read_bytes()[:4] == b'\x89PNG'


def test_missing_labels_fail_with_a_reason(emt_rows):
    report = compare_properties(emt_rows, {}, check_tolerances({}), ('eos',), missing={'Cu': {'eos': 'only 3 of 5'}})
    assert report['cells']['Cu']['missing']['lattice_a'] == 'only 3 of 5'
    assert 'Cu lattice_a (not computed)' in report['failed']


def test_tolerances_name_what_is_wrong():
    assert check_tolerances({'elastic': 0.2})['elastic'] == 0.2
    with pytest.raises(ValueError, match='unknown tolerance lattice; allowed: lattice_a'):
        check_tolerances({'lattice': 0.01})
    with pytest.raises(ValueError, match='positive number'):
        check_tolerances({'vacancy_energy': -1})


def test_md_stability_reports_gamma_and_halts(ace_calculator):
    cell = bulk('Cu', 'fcc', a=3.59, cubic=True).repeat(2)
    calm = md_stability(cell, EMT(), 300, 40, seed=3)
    assert (calm['halted'], calm['steps_run'], calm['time_ps']) == (False, 40, 0.08)
    assert 50 < calm['final_temperature'] < 900
    stable = md_stability(cell, ace_calculator, 300, 40, seed=3)
    assert 0 < stable['max_gamma'] < 10 and not stable['halted']
    strict = md_stability(cell, ace_calculator, 300, 40, gamma_halt=stable['max_gamma'] / 2, seed=3)
    assert strict['halted'] and strict['steps_run'] < 40 and strict['reason'].startswith('gamma')


def test_a_potential_without_energy_minimum_is_refused_with_the_cell():
    """Energies that fall with volume everywhere (a broken fit) give a clear error, not a bad number."""
    from ase.calculators.calculator import Calculator, all_changes

    class Expanding(Calculator):
        implemented_properties = ('energy', 'forces', 'stress')

        def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {
                'energy': -atoms.get_volume(),
                'forces': np.zeros((len(atoms), 3)),
                'stress': np.zeros(6),
            }

    with pytest.raises(ValueError, match='Cu: the equation-of-state fit found no energy minimum'):
        calculator_properties(['Cu'], Expanding(), properties=('eos',))
