"""Pure property helpers: elastic constants, vacancy and formation energies, MD stability, the comparison
and the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

from aiida_mlip_autopipe.labelling.ase_labeller import label_atoms, relax_atoms
from aiida_mlip_autopipe.validation.cells import validation_cells
from aiida_mlip_autopipe.validation.eos import eos_key
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
    relax_keys,
)

FIXTURE = Path(__file__).parent.parent / 'fixtures' / 'ace_cuau'
PROPERTIES = ('eos', 'elastic', 'vacancy', 'formation')
EQUIATOMIC = [{'Cu': 0.5, 'Au': 0.5}]


def relaxed_emt(atoms, cell: bool):
    """``atoms`` with EMT, relaxed by hand (positions, and the cell too with ``cell``) tighter than the
    validation's own criterion: an independent route to the numbers the validation reports."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms) if cell else atoms, logfile=None).run(fmax=1e-5, steps=3000)
    return atoms


def emt_formation_energy(atoms) -> float:
    """EMT formation energy (eV/atom) of ``atoms`` against fcc Cu and Au, every cell and position relaxed."""
    references = {
        symbol: relaxed_emt(bulk(symbol, 'fcc', a=3.8), cell=True).get_potential_energy() for symbol in ('Cu', 'Au')
    }
    symbols = atoms.get_chemical_symbols()
    energy = relaxed_emt(atoms, cell=True).get_potential_energy()
    return energy / len(atoms) - sum(symbols.count(symbol) / len(atoms) * value for symbol, value in references.items())


def emt_formation_energy_at_fixed_shape(atoms) -> float:
    """EMT formation energy (eV/atom) of ``atoms`` with its positions relaxed, minimised over isotropic
    scalings of its cell (shape kept): what the validation computes, by another route."""
    from scipy.optimize import minimize_scalar

    def energy(scale):
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell * scale, scale_atoms=True)
        return relaxed_emt(scaled, cell=False).get_potential_energy()

    best = minimize_scalar(energy, bounds=(0.95, 1.05), method='bounded', options={'xatol': 1e-4})
    references = {
        symbol: relaxed_emt(bulk(symbol, 'fcc', a=3.8), cell=True).get_potential_energy() for symbol in ('Cu', 'Au')
    }
    symbols = atoms.get_chemical_symbols()
    return best.fun / len(atoms) - sum(
        symbols.count(symbol) / len(atoms) * value for symbol, value in references.items()
    )


def emt_vacancy_energy() -> float:
    """Relaxed EMT vacancy formation energy (eV) of Cu in the 32-site cube at EMT's lattice parameter."""
    crystal = relaxed_emt(bulk('Cu', 'fcc', a=3.6, cubic=True), cell=True)
    per_atom = crystal.get_potential_energy() / len(crystal)
    defect = bulk('Cu', 'fcc', a=crystal.cell.lengths()[0], cubic=True).repeat(2)
    del defect[0]
    return relaxed_emt(defect, cell=False).get_potential_energy() - 31 * per_atom


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
def cells():
    return validation_cells(['Cu', 'Au'], EQUIATOMIC, seed=0)


@pytest.fixture(scope='module')
def emt_rows(cells):
    return calculator_properties(cells, EMT(), properties=PROPERTIES)


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
    assert 0.9 < row['vacancy_energy'] < unrelaxed - 0.005
    # the relaxed EMT value, computed independently (cell and positions relaxed by hand)
    assert row['vacancy_energy'] == pytest.approx(emt_vacancy_energy(), abs=2e-3)
    # Cu3Au loses a Cu (the majority species); its chemical potential is EMT Cu's
    assert emt_rows['Cu3Au']['vacancy']['species'] == 'Cu'
    assert 'vacancy' not in emt_rows['Cu16Au16_sqs'] and 'elastic' not in emt_rows['Cu16Au16_sqs']


def test_formation_energies_agree_with_fully_relaxed_cells(emt_rows, cells):
    """Cu3Au from its EOS minimum; the disordered cell with its positions relaxed at its EOS volume."""
    ordered = emt_rows['Cu3Au']['formation']
    assert ordered['composition'] == {'Cu': 0.75, 'Au': 0.25} and ordered['relaxed'] is None
    assert ordered['formation_energy'] == pytest.approx(emt_formation_energy(cells['Cu3Au']), abs=2e-4)
    assert ordered['formation_energy'] < -0.005
    sqs = emt_rows['Cu16Au16_sqs']['formation']
    assert sqs['relaxed'] is True and sqs['composition'] == {'Cu': 0.5, 'Au': 0.5}
    # relaxing the positions matters (Au is 12 % larger than Cu): 42 -> 10 meV/atom; the volume after
    # relaxing is taken to second order in the residual pressure, the cell's shape is not relaxed
    assert sqs['formation_energy'] < sqs['formation_energy_unrelaxed'] - 0.02
    assert sqs['relaxed_pressure_gpa'] < -0.5
    fixed_shape = emt_formation_energy_at_fixed_shape(cells['Cu16Au16_sqs'])
    assert sqs['formation_energy'] == pytest.approx(fixed_shape, abs=3e-4)
    fully_relaxed = emt_formation_energy(cells['Cu16Au16_sqs'])
    assert fully_relaxed < sqs['formation_energy'] < fully_relaxed + 0.001
    assert 'formation' not in emt_rows['Cu']


def test_labeller_side_from_labels_equals_direct_route(emt_rows, cells):
    """Labels of the generated structures, relaxed by the labeller where asked, give what the calculator
    gives directly."""
    frames = []
    for name, atoms in cells.items():
        for index, scaled in enumerate(centred_series(atoms, emt_rows[name]['eos']['centre_volume_per_atom'])):
            scaled.info['config_type'] = eos_key(name, index)
            frames.append(scaled)
    rows, missing = labeller_eos(list(cells), label_atoms(frames, 'emt'))
    assert missing == {}
    structures = property_structures(cells, rows, PROPERTIES)
    assert len(structures) == 3 * (8 + 2) + 1
    relax = relax_keys(structures)
    assert relax == ['formation_Cu16Au16_sqs', 'vacancy_Au_defect', 'vacancy_Cu3Au_defect', 'vacancy_Cu_defect']
    labelled, relaxations = [], {}
    for key, atoms in structures.items():
        atoms.info['config_type'] = key
        if key in relax:
            relaxations[key] = relax_atoms(atoms, 'emt')
        labelled.append(atoms)
    assert (
        labeller_properties(rows, label_atoms(labelled, 'emt'), PROPERTIES, relaxations=relaxations, cells=cells) == {}
    )
    for name in ('Cu', 'Au', 'Cu3Au'):
        for key in ('c11', 'c12', 'c44'):
            assert rows[name]['elastic'][key] == pytest.approx(emt_rows[name]['elastic'][key], rel=1e-6)
        assert rows[name]['vacancy']['relaxed'] is True
        assert rows[name]['vacancy']['vacancy_energy'] == pytest.approx(
            emt_rows[name]['vacancy']['vacancy_energy'], abs=1e-3
        )
    for name in ('Cu3Au', 'Cu16Au16_sqs'):
        assert rows[name]['formation']['formation_energy'] == pytest.approx(
            emt_rows[name]['formation']['formation_energy'], abs=2e-4
        )
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES, cells=cells)
    assert report['passed'], report['failed']
    sqs = report['cells']['Cu16Au16_sqs']
    assert (sqs['kind'], sqs['composition'], list(sqs['passed'])) == (
        'sqs',
        {'Cu': 0.5, 'Au': 0.5},
        ['lattice_a', 'bulk_modulus', 'formation_energy'],
    )
    # a relaxation that did not converge on the labeller's side fails its property, saying so
    relaxations['vacancy_Cu_defect']['converged'] = False
    labeller_properties(rows, label_atoms(labelled, 'emt'), PROPERTIES, relaxations=relaxations, cells=cells)
    report = compare_properties(emt_rows, rows, check_tolerances({}), PROPERTIES, cells=cells)
    assert report['failed'] == ['Cu vacancy_energy (+0.000 eV, labeller relaxation did not converge)']


def test_a_poor_potential_fails_and_names_the_properties(emt_rows, cells, ace_calculator, tmp_path):
    ace_rows = calculator_properties(cells, ace_calculator, properties=PROPERTIES)
    report = compare_properties(ace_rows, emt_rows, check_tolerances({}), PROPERTIES, cells=cells)
    cu = report['cells']['Cu']
    # the fixture (48 functions, 80 EMT frames) has EMT's lattice but not its curvature
    assert cu['passed']['lattice_a'] and abs(cu['error']['lattice_a']) < 0.005
    assert not cu['passed']['bulk_modulus'] and cu['error']['bulk_modulus'] > 0.2
    named = f'Cu bulk_modulus ({cu["error"]["bulk_modulus"]:+.1%})'
    assert named in report['failed']
    loose = compare_properties(ace_rows, emt_rows, check_tolerances({'bulk_modulus': 0.5}), PROPERTIES)
    assert named not in loose['failed'] and 'Cu c11' in ' '.join(loose['failed'])
    # the fixture's formation energies: Cu3Au -3.0 against EMT's -10.2 meV/atom, the disordered cell +30 against +12
    assert report['cells']['Cu3Au']['error']['formation_energy'] == pytest.approx(0.0072, abs=0.001)
    assert 'Cu16Au16_sqs formation_energy (+18.3 meV/atom)' in report['failed']
    lines = format_validation_table(report).splitlines()
    block = lines.index('Cu (element, Cu 1.000 Au 0.000)')
    assert lines[block + 2].split()[:2] == ['bulk_modulus', '(GPa)'] and lines[block + 2].endswith('FAIL')
    assert lines.index('Cu3Au (ordered, Cu 0.750 Au 0.250)') < lines.index('Cu16Au16_sqs (sqs, Cu 0.500 Au 0.500)')
    formation = next(line for line in lines if line.startswith('  formation_energy (meV/atom)'))
    assert formation.split()[2:5] == ['-3.0', '-10.2', '+7.2']
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


def test_md_swaps_exchange_unlike_atoms_by_metropolis(cells):
    """Swaps in ordered Cu3Au: at 20000 K many are taken, at 1 K none (each makes an antisite pair)."""
    ordered = cells['Cu3Au'].repeat(2)
    counts = sorted(ordered.get_chemical_symbols())
    hot = md_stability(ordered, EMT(), 300, 40, seed=3, swap_every=10, swap_attempts=20, swap_temperature=20000)
    assert (hot['swaps']['every'], hot['swaps']['attempts'], hot['swaps']['attempted']) == (10, 20, 80)
    assert hot['swaps']['accepted'] > 20 and not hot['halted']
    cold = md_stability(ordered, EMT(), 300, 40, seed=3, swap_every=10, swap_attempts=20, swap_temperature=1)
    assert cold['swaps']['attempted'] == 80 and cold['swaps']['accepted'] == 0
    assert sorted(ordered.get_chemical_symbols()) == counts
    assert (
        md_stability(bulk('Cu', cubic=True).repeat(2), EMT(), 300, 20, swap_every=10, swap_attempts=5)['swaps'] is None
    )


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
        calculator_properties(validation_cells(['Cu'], []), Expanding(), properties=('eos',))
