"""``ValidationWorkChain`` with the real labellers: EMT for everything, pw.x for one EOS."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_mlip_autopipe.campaign.status import describe_campaign
from aiida_mlip_autopipe.data import AcePotential
from aiida_mlip_autopipe.validation.eos import reference_cell
from aiida_mlip_autopipe.validation.plot import plot_eos_comparison, plot_phonon_comparison
from aiida_mlip_autopipe.validation.report import format_validation_table
from aiida_mlip_autopipe.validation.workchain import ValidationWorkChain, get_validation_builder

from .test_properties import (
    FIXTURE,
    emt_cubic_constants_from_energy,
    emt_formation_energy,
    emt_formation_energy_at_fixed_shape,
    emt_vacancy_energy,
)

CU3AU = reference_cell(['Cu', 'Au'])['Cu3Au']


@pytest.fixture
def potential(aiida_profile):
    return AcePotential.from_files(
        FIXTURE / 'potential.yaml', FIXTURE / 'potential.yace', FIXTURE / 'potential.asi'
    ).store()


def test_emt_validation_reports_every_property(potential, python_code, tmp_path):
    builder = get_validation_builder(
        potential,
        python_code,
        labeller='emt',
        elements=['Cu', 'Au'],
        compositions=[{'Cu': 1.0, 'Au': 0.0}, {'Cu': 0.5, 'Au': 0.5}, {'Cu': 0.0, 'Au': 1.0}],
        temperature_max=600.0,
        md_steps=60,
        md_swap_every=20,
        seed=5,
    )
    results, node = run_get_node(builder)
    report = results['report'].get_dict()
    cells = report['cells']
    assert sorted(cells) == ['Au', 'Cu', 'Cu16Au16_sqs', 'Cu3Au']
    # the labeller's side is EMT's own: C11, C12, C44 of Cu from energy curvature, computed here
    cu = cells['Cu']
    expected = emt_cubic_constants_from_energy(cu['labeller']['lattice_a'])
    for key in ('c11', 'c12', 'c44'):
        assert cu['labeller'][key] == pytest.approx(expected[key], rel=0.02), key
    assert cu['labeller']['lattice_a'] == pytest.approx(3.590, abs=0.005)
    # the fixture reproduces EMT's lattice parameter within 0.5 % but not its bulk modulus
    for name in ('Cu', 'Au', 'Cu3Au'):
        assert cells[name]['passed']['lattice_a'], (name, cells[name]['error'])
    assert not cu['passed']['bulk_modulus'] and cu['error']['bulk_modulus'] > 0.2
    # the vacancy relaxed by EMT itself: the relaxed EMT value computed independently here
    assert cu['labeller']['vacancy_relaxed'] and cu['potential']['vacancy_relaxed']
    assert cu['labeller']['vacancy_energy'] == pytest.approx(emt_vacancy_energy(), abs=2e-3)
    assert cu['labeller']['vacancy_sites'] == 32
    # formation energies against EMT's own, computed independently (meV/atom: Cu3Au -10.2, the disordered cell)
    ordered, sqs = cells['Cu3Au'], cells['Cu16Au16_sqs']
    assert ordered['labeller']['formation_energy'] == pytest.approx(emt_formation_energy(CU3AU), abs=2e-4)
    labelled = {atoms.info['config_type']: atoms for atoms in results['property_labels'].to_atoms()}
    disordered = labelled['formation_Cu16Au16_sqs']
    assert sqs['labeller']['formation_relaxed'] and np.abs(disordered.get_forces()).max() < 0.01
    assert sqs['labeller']['formation_energy'] == pytest.approx(
        emt_formation_energy_at_fixed_shape(disordered), abs=3e-4
    )
    assert sqs['kind'] == 'sqs' and sqs['composition'] == {'Cu': 0.5, 'Au': 0.5}
    assert 'formation_energy' in ordered['passed'] and 'formation_energy' not in cu['passed']
    # MD: the four cells at 600 and 720 K, swaps in the three with two elements
    runs = report['md']['runs']
    assert [(run['cell'], run['temperature']) for run in runs] == [
        (name, temperature) for temperature in (600.0, 720.0) for name in ('Cu', 'Au', 'Cu3Au', 'Cu16Au16_sqs')
    ]
    assert all(run['max_gamma'] > 0 and run['atoms'] == 32 and run['engine'] == 'ase' for run in runs)
    assert [run['swaps'] is not None for run in runs] == [False, False, True, True] * 2
    for run in runs[2:4] + runs[6:]:
        assert run['swaps']['attempted'] == 10 * (run['steps_run'] // 20) > 0, run
    # a failing property gives exit 410 naming it; the report is output anyway
    assert node.exit_status == ValidationWorkChain.exit_codes.ERROR_VALIDATION_FAILED.status
    assert 'Cu bulk_modulus' in node.exit_message
    assert not report['passed'] and report['tolerances']['formation_energy'] == 0.005
    # elastic (8 each) and vacancy (2 each) of Cu, Au, Cu3Au, the disordered cell, the phonons' displaced
    # supercells (one each for Cu and Au, two for Cu3Au): the EMT default includes the phonons
    assert results['property_labels'].count == 3 * (8 + 2) + 1 + 4
    assert sorted(results['property_labels'].to_atoms()[0].info) == ['config_type', 'source_uuid']
    table = format_validation_table(report)
    assert 'Cu16Au16_sqs (sqs, Cu 0.500 Au 0.500)' in table and 'MD stability (8 runs)' in table
    assert 'phonon_rmse' in cells['Cu3Au']['passed'] and 'phonon_rmse' not in sqs['passed']
    assert plot_eos_comparison(report, tmp_path / 'eos.png').stat().st_size > 1000


def phonopy_mesh(atoms, centring: str, calculator) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (THz) of ``atoms`` on the Gamma-centred 8x8x8 mesh and at the zone boundary point of the
    first path segment (fcc X, simple cubic X), by phonopy on its own: 2x2x2 supercell, 0.01 A."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions()
    )
    phonopy = Phonopy(unit, supercell_matrix=[2, 2, 2], primitive_matrix=centring)
    phonopy.generate_displacements(distance=0.01)
    forces = []
    for cell in phonopy.supercells_with_displacements:
        supercell = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        supercell.calc = calculator
        forces.append(supercell.get_forces())
    phonopy.forces = forces
    phonopy.produce_force_constants()
    phonopy.run_mesh([8, 8, 8], is_gamma_center=True, is_mesh_symmetry=False)
    boundary = [0.5, 0, 0.5] if centring == 'F' else [0, 0.5, 0]
    return np.asarray(phonopy.mesh.frequencies), np.asarray(phonopy.run_qpoints([boundary]).frequencies[0])


def test_emt_phonons_agree_with_phonopy_run_here(potential, python_code, tmp_path):
    """Phonons of Cu, Au and Cu3Au: the labeller's side is EMT's by phonopy run here at EMT's lattice
    parameter, the potential's side the fixture's at its own; the errors are those of these two runs."""
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    builder = get_validation_builder(
        potential, python_code, labeller='emt', elements=['Cu', 'Au'], properties=['eos', 'phonons']
    )
    results, node = run_get_node(builder)
    report = results['report'].get_dict()
    labels = results['property_labels'].to_atoms()
    assert sorted(atoms.info['config_type'] for atoms in labels) == [
        'phonon_Au_0',
        'phonon_Cu3Au_0',
        'phonon_Cu3Au_1',
        'phonon_Cu_0',
    ]
    ace = PyACECalculator(BBasisConfiguration(str(FIXTURE / 'potential.yaml')))
    for name, centring in (('Cu', 'F'), ('Au', 'F'), ('Cu3Au', 'P')):
        entry, bands = report['cells'][name], report['phonon_bands'][name]
        sides = {}
        for side, calculator in (('labeller', EMT()), ('potential', ace)):
            a = entry[side]['lattice_a']
            cell = CU3AU.copy() if name == 'Cu3Au' else bulk(name, 'fcc', a=a, cubic=True)
            cell.set_cell(np.eye(3) * a, scale_atoms=True)
            mesh, boundary = phonopy_mesh(cell, centring, calculator)
            sides[side] = mesh
            assert entry[side]['max_frequency'] == pytest.approx(mesh.max(), rel=1e-6), (name, side)
            assert bands[side]['frequencies'][30] == pytest.approx(boundary, abs=1e-6), (name, side)
        difference = sides['potential'] - sides['labeller']
        assert entry['error']['phonon_rmse'] == pytest.approx(np.sqrt(np.mean(difference**2)), rel=1e-5), name
        assert abs(entry['error']['phonon_max_error']) == pytest.approx(np.abs(difference).max(), rel=1e-5), name
        limit = 0.05 * sides['labeller'].max()
        assert entry['passed']['phonon_rmse'] == (np.sqrt(np.mean(difference**2)) <= limit)
        assert entry['passed']['phonon_max_error'] == (np.abs(difference).max() <= limit)
    # EMT's highest frequencies (THz); the fixture was fitted to EMT forces: within 5 % of them
    assert report['cells']['Cu']['labeller']['max_frequency'] == pytest.approx(8.14, abs=0.01)
    assert report['cells']['Cu3Au']['labeller']['max_frequency'] == pytest.approx(6.73, abs=0.01)
    assert not any('phonon' in line or 'max_frequency' in line for line in report['failed'])
    assert node.exit_status == 410 and 'Cu bulk_modulus' in node.exit_message
    table = format_validation_table(report)
    assert '  phonon_max_error (THz)' in table
    assert plot_phonon_comparison(report, tmp_path / 'phonons.png').stat().st_size > 1000
    # `mlip-autopipe status` of a campaign with this validation: the table and the phonon plot's path
    campaign = orm.WorkflowNode(label='phonons').store()
    results['report'].base.links.add_incoming(campaign, link_type=LinkType.RETURN, link_label='validation')
    status = describe_campaign(campaign, tmp_path / 'campaign_learning_curve.png')
    assert '  phonon_rmse (THz)' in status
    assert f'phonon plot: {tmp_path / "campaign_phonons.png"}' in status
    assert (tmp_path / 'campaign_phonons.png').read_bytes()[:4] == b'\x89PNG'


def test_loose_tolerances_pass(potential, python_code):
    builder = ValidationWorkChain.get_builder()
    builder.potential = potential
    builder.python_code = python_code
    builder.elements = orm.List(['Cu'])
    builder.labeller = orm.Str('emt')
    builder.properties = orm.List(['eos'])
    builder.tolerances = orm.Dict({'bulk_modulus': 0.5})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert results['report']['passed'] and list(results['report']['cells']) == ['Cu']


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'labeller': (orm.Str, 'vasp')}, '`labeller`: unknown labeller `vasp`; allowed: emt, qe'),
        ({'labeller': (orm.Str, 'qe')}, '`pw_code`: the `qe` labeller needs'),
        ({'elements': (orm.List, ['Cu', 'Ni'])}, '`elements`: Ni; the potential knows Au, Cu'),
        ({'properties': (orm.List, ['eos', 'md'])}, '`temperature_max`: needed'),
        ({'tolerances': (orm.Dict, {'lattice': 0.01})}, '`tolerances`: unknown tolerance lattice'),
        ({'phonon_supercell': (orm.Int, 0)}, '`phonon_supercell`: 0 is not allowed; give 1 or more'),
        ({'sqs_supercell': (orm.Int, 0)}, '`sqs_supercell`: 0 is not allowed; give 1 or more'),
        ({'python_options': (orm.Dict, {'queue': 'x'})}, '`python_options`: unknown keys queue'),
    ],
)
def test_bad_inputs_are_refused_before_running(potential, python_code, changes, message):
    inputs = {
        'potential': potential,
        'python_code': python_code,
        'labeller': orm.Str('emt'),
        'properties': orm.List(['eos']),
    }
    inputs.update({key: kind(value) for key, (kind, value) in changes.items()})
    with pytest.raises(ValueError, match=message):
        run_get_node(ValidationWorkChain, **inputs)


def test_qe_equation_of_state_and_vacancy_of_copper(potential, python_code, pw_code, pseudo_family):
    """pw.x (LDA, fast protocol, coarse k-mesh) labels the Cu EOS; LDA Cu is smaller than EMT's. The vacancy
    (the 4-atom cube, so 3 atoms are left) is a pw.x relaxation."""
    builder = ValidationWorkChain.get_builder()
    builder.potential = potential
    builder.python_code = python_code
    builder.elements = orm.List(['Cu'])
    builder.labeller = orm.Str('qe')
    builder.pw_code = pw_code
    builder.pseudo_family = orm.Str(pseudo_family.label)
    builder.protocol = orm.Str('fast')
    builder.overrides = orm.Dict({'kpoints_distance': 0.4})
    builder.max_concurrent = orm.Int(5)
    builder.properties = orm.List(['eos', 'vacancy'])
    builder.vacancy_supercell = orm.Int(1)
    results, node = run_get_node(builder)
    report = results['report'].get_dict()
    cu = report['cells']['Cu']
    assert results['eos_labels'].count == 5
    # the defect cell was relaxed by pw.x (`calculation: relax`); by symmetry its forces vanish at once
    assert cu['labeller']['vacancy_relaxed'] is True and cu['labeller']['vacancy_sites'] == 4
    defect = next(
        atoms for atoms in results['property_labels'].to_atoms() if atoms.info['config_type'] == 'vacancy_Cu_defect'
    )
    calculation = orm.load_node(defect.info['source_uuid'])
    assert calculation.inputs.parameters['CONTROL']['calculation'] == 'relax'
    assert 0.3 < cu['labeller']['vacancy_energy'] < 2.5
    # both sides on the same five structures, centred on the potential's minimum
    curves = report['eos_curves']['Cu']
    assert curves['labeller']['volume_per_atom'] == pytest.approx(curves['potential']['volume_per_atom'], rel=1e-9)
    # LDA binds Cu tighter than EMT (to which the fixture was fitted): a about 3.55 against 3.585 A
    assert 3.50 < cu['labeller']['lattice_a'] < 3.575
    assert cu['potential']['lattice_a'] == pytest.approx(3.585, abs=0.005)
    assert 130 < cu['labeller']['bulk_modulus'] < 230
    assert 'lattice_a' not in cu['missing']
    assert node.exit_status == 410 and 'Cu lattice_a (+' in node.exit_message


def test_labeller_refusing_its_inputs_is_an_exit_code(potential, python_code, pw_code):
    builder = ValidationWorkChain.get_builder()
    builder.potential = potential
    builder.python_code = python_code
    builder.elements = orm.List(['Cu'])
    builder.labeller = orm.Str('qe')
    builder.pw_code = pw_code
    builder.pseudo_family = orm.Str('no-such-family')
    builder.properties = orm.List(['eos'])
    _, node = run_get_node(builder)
    assert node.exit_status == ValidationWorkChain.exit_codes.ERROR_LABELLER_INPUTS.status
    assert 'pseudo family `no-such-family` is not installed' in node.exit_message


def test_md_stability_in_lammps(potential, python_code, lmp_code):
    """Every cell (Cu, Au, Cu3Au without formation energies) at 300 and 360 K, 256 atoms, swaps in Cu3Au."""
    builder = get_validation_builder(
        potential,
        python_code,
        labeller='emt',
        elements=['Cu', 'Au'],
        properties=['eos', 'md'],
        lmp_code=lmp_code,
        temperature_max=300.0,
        md_steps=200,
        md_swap_every=50,
        md_swap_attempts=5,
        tolerances={'bulk_modulus': 0.5},
    )
    results, node = run_get_node(builder)
    runs = results['report']['md']['runs']
    assert [(run['engine'], run['temperature'], run['atoms'], run['cell']) for run in runs] == [
        ('lammps', temperature, 256, name) for temperature in (300.0, 360.0) for name in ('Cu', 'Au', 'Cu3Au')
    ]
    assert [bool(run['swaps']) for run in runs] == [False, False, True] * 2
    for run in runs:
        assert 0 < run['max_gamma'] and run['steps'] == 200
        assert run['halted'] == (run['steps_run'] < 200) == (run['max_gamma'] > 10)
    assert node.is_finished_ok == (not any(run['halted'] for run in runs))
    jobs = [child for child in node.called if child.process_label == 'LammpsMdWorkChain']
    assert len(jobs) == 6
    for job, run in zip(sorted(jobs, key=lambda job: job.ctime), runs):
        (lammps,) = [child for child in job.called if child.process_type == 'aiida.calculations:lammps.raw']
        script = lammps.inputs.script.get_content()
        assert ('atom/swap' in script) == bool(run['swaps']), script
        assert job.inputs.parameters.get_dict().get('swap_every', 0) == (50 if run['swaps'] else 0)
        if run['swaps']:  # one pair of elements: 5 trials every 50 steps
            assert run['swaps']['attempted'] == 5 * (run['steps_run'] // 50) and run['swaps']['accepted'] >= 0
