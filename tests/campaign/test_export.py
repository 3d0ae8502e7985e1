"""``mlip-autopipe export``: the exported folder runs as it is in LAMMPS and ASE, on the labeller's energy scale.

The potential is the committed Cu-Au fixture (tests/fixtures/ace_cuau); LAMMPS is the ML-PACE build
of ``make setup`` and pyace the one of the test environment. The campaign-only parts (training and
held-out sets, validation, iteration table) are checked on :func:`write_export` with plain values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from aiida_mlip_autopipe.campaign.export import (
    FILES,
    PW_PROCESS_TYPE,
    ExportContent,
    example_structure,
    find_called,
    labeller_metadata,
    lammps_version,
    pseudo_metadata,
    write_export,
)
from aiida_mlip_autopipe.cli import cli

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'ace_cuau'
POTENTIAL_FILES = ('potential.yaml', 'potential.yace', 'potential.asi')


def fixture_reference_energy(symbols) -> float:
    """The energy pacemaker took off these atoms, read here from the fixture's YAML metadata (not the plugin's code)."""
    metadata = yaml.safe_load((FIXTURE / 'potential.yaml').read_text())['metadata']
    reference = json.loads(metadata['reference_energy'])
    return sum(reference[symbol] for symbol in symbols) - reference['shift'] * len(symbols)


def pyace_energy(atoms) -> float:
    """pyace's energy of ``atoms`` with the fixture's B-basis (relative to the reference energies)."""
    from pyace import PyACECalculator

    atoms = atoms.copy()
    atoms.calc = PyACECalculator(str(FIXTURE / 'potential.yaml'))
    return atoms.get_potential_energy()


def thermo_table(log: str) -> list[dict[str, float]]:
    """Return the thermo rows of a LAMMPS log as dicts keyed by the header's column names."""
    rows, header = [], None
    for line in log.splitlines():
        tokens = line.split()
        if tokens[:1] == ['Step']:
            header = tokens
        elif header and tokens[:2] == ['Loop', 'time']:
            header = None
        elif header and len(tokens) == len(header):
            rows.append(dict(zip(header, map(float, tokens))))
    return rows


@pytest.fixture(scope='module')
def lmp():
    from aiida_mlip_autopipe.setup import default_executable

    path = default_executable('lmp')
    assert Path(path).is_file(), f'{path} missing: run `make setup` (`mlip-autopipe install-codes lammps` builds it)'
    return path


@pytest.fixture(scope='module')
def potential(aiida_profile):
    from aiida_mlip_autopipe.data import AcePotential

    return AcePotential.from_files(*(FIXTURE / name for name in POTENTIAL_FILES)).store()


@pytest.fixture(scope='module')
def exported(aiida_profile, potential, tmp_path_factory):
    """The fixture potential exported by pk through the command line."""
    folder = tmp_path_factory.mktemp('export') / 'cuau'
    result = CliRunner().invoke(cli, ['-p', aiida_profile.name, 'export', str(potential.pk), str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def run_in_copy(folder: Path, tmp_path: Path, command: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``command`` in a copy of the exported folder, as a user would run it there."""
    copy = tmp_path / 'run'
    shutil.copytree(folder, copy)
    environment = {**os.environ, 'OMP_NUM_THREADS': '1'}
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=300, env=environment)
    return result, copy


def test_export_of_a_potential_writes_its_files_readme_and_metadata(exported, potential, aiida_profile):
    names = {path.name for path in exported.iterdir()}
    assert names == {
        *POTENTIAL_FILES,
        'in.lammps',
        'in.extrapolation.lammps',
        'example.data',
        'example.extxyz',
        'use_with_ase.py',
        'metadata.json',
        'README.txt',
    }
    for name in POTENTIAL_FILES:
        assert (exported / name).read_bytes() == potential.get_content(name.split('.')[1])
    readme = (exported / 'README.txt').read_text()
    for name in names:
        assert f'  {name}  ' in readme or f'  {name} ' in readme, name
    assert 'training_set.extxyz' not in readme and 'no training set' in readme

    metadata = json.loads((exported / 'metadata.json').read_text())
    assert metadata['exported_from'] == {'kind': 'potential', 'pk': potential.pk, 'uuid': potential.uuid}
    assert metadata['aiida_profile'] == aiida_profile.name
    assert metadata['potential']['uuid'] == potential.uuid
    assert metadata['potential']['sha256'] == potential.sha256
    assert metadata['potential']['versions_in_yaml']['pacemaker_version'] == '0.4.0rc1'
    assert metadata['codes']['pacemaker']['version'] == '0.4.0rc1'
    yaml_metadata = yaml.safe_load((FIXTURE / 'potential.yaml').read_text())['metadata']
    assert metadata['potential']['reference_energies'] == json.loads(yaml_metadata['reference_energy'])
    assert metadata['training_set'] is None
    assert sorted(metadata['files']) == sorted(names)

    atoms = ase.io.read(exported / 'example.extxyz')
    assert atoms.get_chemical_formula() == 'Au108' and metadata['example_structure']['atoms'] == 108


def test_lammps_input_runs_100_md_steps_and_prints_the_labeller_energy(exported, lmp, tmp_path):
    result, folder = run_in_copy(exported, tmp_path, [lmp, '-in', 'in.lammps'])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    log = (folder / 'log.lammps').read_text()
    assert lammps_version(log).startswith('4 Feb 2025')
    rows = thermo_table(log)
    assert [int(row['Step']) for row in rows] == list(range(0, 101, 10))
    assert all(np.isfinite(list(row.values())).all() for row in rows)
    assert 0 < rows[-1]['Temp'] < 1000  # an MD run at 300 K that stayed sane

    atoms = ase.io.read(exported / 'example.extxyz')
    reference = fixture_reference_energy(atoms.get_chemical_symbols())
    assert abs(reference) > 1.0  # the reference energies matter: about 0.13 eV per Au atom
    step0 = rows[0]
    # pe is the potential's own energy: pyace's on the same structure
    assert step0['PotEng'] == pytest.approx(pyace_energy(atoms), abs=1e-4 * len(atoms))
    # v_e_total adds the reference energies back
    assert step0['v_e_total'] == pytest.approx(step0['PotEng'] + reference, abs=1e-4 * len(atoms))


def test_extrapolation_input_runs_with_the_active_set_and_reports_gamma(exported, lmp, tmp_path):
    text = (exported / 'in.extrapolation.lammps').read_text()
    assert 'pair_coeff * * potential.yaml potential.asi Au Cu' in text
    result, folder = run_in_copy(exported, tmp_path, [lmp, '-in', 'in.extrapolation.lammps'])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = thermo_table((folder / 'log.lammps').read_text())
    assert int(rows[-1]['Step']) == 100
    gammas = [row['v_max_gamma'] for row in rows]
    assert all(0 < gamma < 10 for gamma in gammas), gammas  # a perfect Au crystal at 300 K: no runaway


def test_ase_script_prints_pyace_energy_plus_reference_energies_equal_to_lammps(exported, lmp, tmp_path):
    result, _ = run_in_copy(exported, tmp_path, [sys.executable, 'use_with_ase.py'])
    assert result.returncode == 0, result.stdout + result.stderr
    printed = float(re.search(r'total energy: (\S+) eV', result.stdout).group(1))
    assert 'largest extrapolation grade gamma' in result.stdout

    atoms = ase.io.read(exported / 'example.extxyz')
    expected = pyace_energy(atoms) + fixture_reference_energy(atoms.get_chemical_symbols())
    assert printed == pytest.approx(expected, abs=1e-6)

    lammps, folder = run_in_copy(exported, tmp_path / 'lmp', [lmp, '-in', 'in.lammps'])
    assert lammps.returncode == 0
    step0 = thermo_table((folder / 'log.lammps').read_text())[0]
    reference = fixture_reference_energy(atoms.get_chemical_symbols())
    assert abs(printed - (step0['PotEng'] + reference)) / len(atoms) < 1e-4
    assert abs(printed - step0['v_e_total']) / len(atoms) < 1e-4


def test_a_potential_with_only_its_yaml_still_runs_in_lammps(aiida_profile, lmp, tmp_path):
    """An interim fit has no .yace and no .asi: `pair_style pace` reads the B-basis YAML, same energy."""
    from aiida_mlip_autopipe.campaign.export import export_node
    from aiida_mlip_autopipe.data import AcePotential

    potential = AcePotential.from_files(FIXTURE / 'potential.yaml').store()
    written = export_node(potential, tmp_path / 'interim')
    assert 'in.extrapolation.lammps' not in written and 'potential.yace' not in written
    assert 'pair_coeff * * potential.yaml Au Cu' in (tmp_path / 'interim' / 'in.lammps').read_text()
    assert 'No active set' in (tmp_path / 'interim' / 'README.txt').read_text()
    result, folder = run_in_copy(tmp_path / 'interim', tmp_path, [lmp, '-in', 'in.lammps'])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = thermo_table((folder / 'log.lammps').read_text())
    atoms = ase.io.read(folder / 'example.extxyz')
    assert int(rows[-1]['Step']) == 100
    assert rows[0]['PotEng'] == pytest.approx(pyace_energy(atoms), abs=1e-4 * len(atoms))


def test_metadata_names_the_lammps_code_and_version_of_a_run_with_the_potential(
    aiida_profile, localhost, lmp, tmp_path
):
    """A real MD run with the potential on the graph: the export finds its code and LAMMPS version."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlip_autopipe.campaign.export import export_node
    from aiida_mlip_autopipe.data import AcePotential
    from aiida_mlip_autopipe.exploration.md import LammpsMdWorkChain
    from aiida_mlip_autopipe.setup import ensure_code

    potential = AcePotential.from_files(*(FIXTURE / name for name in POTENTIAL_FILES)).store()
    code = ensure_code('lmp', localhost, 'lammps.raw', lmp)
    builder = LammpsMdWorkChain.get_builder()
    builder.code = code
    builder.potential = potential
    builder.structure = orm.StructureData(ase=example_structure('Cu', min_atoms=32))
    parameters = {'temperature': 300, 'steps': 20, 'gamma_lower': 2.0, 'gamma_upper': 10.0, 'dump_every': 10}
    builder.parameters = orm.Dict(parameters)
    _, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    (job,) = [child for child in node.called if child.process_type == 'aiida.calculations:lammps.raw']

    export_node(potential, tmp_path / 'with-md')
    codes = json.loads((tmp_path / 'with-md' / 'metadata.json').read_text())['codes']
    assert codes['lmp']['label'] == code.full_label and codes['lmp']['calculation'] == job.uuid
    assert codes['lmp']['executable'] == lmp
    assert codes['lmp']['version'].startswith('4 Feb 2025')


def test_export_refuses_a_full_folder_without_force_and_a_node_of_another_kind(
    aiida_profile, potential, exported, tmp_path
):
    from aiida import orm

    runner = CliRunner()
    result = runner.invoke(cli, ['-p', aiida_profile.name, 'export', str(potential.pk), str(exported)])
    assert result.exit_code == 1
    assert f'folder {exported} exists and is not empty' in result.output and '--force' in result.output

    stale = tmp_path / 'again'
    stale.mkdir()
    (stale / 'training_set.extxyz').write_text('from another export\n')
    (stale / 'notes.txt').write_text('mine\n')
    result = runner.invoke(cli, ['-p', aiida_profile.name, 'export', str(potential.pk), str(stale), '--force'])
    assert result.exit_code == 0, result.output
    assert not (stale / 'training_set.extxyz').exists()  # a stale export file is not passed off as this one's
    assert (stale / 'notes.txt').read_text() == 'mine\n' and (stale / 'potential.yace').is_file()

    other = orm.Dict({'a': 1}).store()
    result = runner.invoke(cli, ['-p', aiida_profile.name, 'export', str(other.pk), str(tmp_path / 'x')])
    assert result.exit_code == 1
    assert f'node {other.pk} is a Dict; give the pk of an ActiveLearningWorkChain' in result.output
    assert not (tmp_path / 'x').exists()

    result = runner.invoke(cli, ['-p', aiida_profile.name, 'export', '987654321', str(tmp_path / 'y')])
    assert result.exit_code == 1 and 'no node with pk 987654321' in result.output


def test_campaign_parts_training_and_held_out_sets_validation_and_iterations(
    aiida_profile, potential, labelled_frames, tmp_path
):
    from aiida_mlip_autopipe.data import TrainingSet
    from aiida_mlip_autopipe.validation.report import compare_properties, format_validation_table

    training_set = TrainingSet(frames=labelled_frames[:5])
    held_out = TrainingSet(frames=labelled_frames[5:])
    curve = {'volumes': [11.0, 12.0], 'energies': [0.1, 0.0]}
    validation = compare_properties(
        {'Cu': {'eos': {'lattice_a': 3.62, 'bulk_modulus_gpa': 120.0, 'curve': curve}}},
        {'Cu': {'eos': {'lattice_a': 3.60, 'bulk_modulus_gpa': 140.0, 'curve': curve}}},
        {'lattice_a': 0.02, 'bulk_modulus': 0.1},
        ['eos'],
    )
    rows = [
        {'iteration': 0, 'labels_added': 5, 'training_set_size': 5, 'force_rmse_test': 123.4, 'state': 'refit'},
        {'iteration': 1, 'labels_added': 3, 'training_set_size': 8, 'force_rmse_test': 87.6, 'state': 'budget'},
    ]
    content = ExportContent(
        potential=potential,
        example_element='Cu',
        training_set=training_set,
        held_out_set=held_out,
        validation=validation,
        rows=rows,
        metadata={'summary': {'iterations': rows, 'best_iteration': 1, 'stop_reason': 'iteration budget spent'}},
        temperature=500.0,
        gamma_upper=7.5,
    )
    written = write_export(tmp_path, content)
    assert {'training_set.extxyz', 'held_out_set.extxyz', 'validation.txt', 'validation.json', 'iterations.txt'} <= set(
        written
    )

    for name, frames in (('training_set', labelled_frames[:5]), ('held_out_set', labelled_frames[5:])):
        read = ase.io.read(tmp_path / f'{name}.extxyz', index=':')
        assert [atoms.get_potential_energy() for atoms in read] == pytest.approx(
            [atoms.get_potential_energy() for atoms in frames], abs=1e-8
        )
        assert np.allclose(read[-1].get_forces(), frames[-1].get_forces())
    assert (tmp_path / 'validation.txt').read_text() == format_validation_table(validation) + '\n'
    assert 'bulk_modulus (GPa)' in (tmp_path / 'validation.txt').read_text()  # -14 %: the failing row is shown
    assert json.loads((tmp_path / 'validation.json').read_text())['failed'] == validation['failed']
    table = (tmp_path / 'iterations.txt').read_text().splitlines()
    assert table[1].split()[:2] == ['0', '5'] and table[2].split()[-1] == 'budget'
    metadata = json.loads((tmp_path / 'metadata.json').read_text())
    assert metadata['summary']['best_iteration'] == 1 and metadata['summary']['stop_reason'] == 'iteration budget spent'
    assert metadata['example_structure']['formula'] == 'Cu108'
    extrapolation = (tmp_path / 'in.extrapolation.lammps').read_text()
    assert 'v_max_gamma > 7.5 error soft' in extrapolation and 'temp 500 500' in extrapolation
    readme = (tmp_path / 'README.txt').read_text()
    assert 'held_out_set.extxyz' in readme and 'validation.json' in readme

    # without a held-out set (campaigns before that output existed) nothing pretends to be one
    content.held_out_set = None
    other = tmp_path / 'without'
    other.mkdir()
    assert 'held_out_set.extxyz' not in write_export(other, content)
    assert not (other / 'held_out_set.extxyz').exists()
    assert 'held_out_set' not in (other / 'README.txt').read_text()


def test_pseudopotentials_are_named_with_their_md5_and_the_family_cutoffs(pseudo_family):
    from aiida_mlip_autopipe.pseudos import DEBIAN_LDA_FILES, DEBIAN_PSEUDO_DIR, load_cutoff_table

    info = pseudo_metadata(pseudo_family.label, ['Cu', 'Au'], 'balanced')
    for element in ('Cu', 'Au'):
        entry = info['pseudopotentials'][element]
        assert entry['filename'] == DEBIAN_LDA_FILES[element]
        content = (Path(DEBIAN_PSEUDO_DIR) / DEBIAN_LDA_FILES[element]).read_bytes()
        assert entry['md5'] == hashlib.md5(content).hexdigest()
    table = load_cutoff_table()
    cutoffs = info['family_recommended_cutoffs_ry']
    assert cutoffs['stringency'] == 'normal'
    assert cutoffs['ecutwfc'] == pytest.approx(max(table[e]['normal']['cutoff_wfc'] for e in ('Cu', 'Au')))
    assert cutoffs['ecutrho'] == pytest.approx(max(table[e]['normal']['cutoff_rho'] for e in ('Cu', 'Au')))


def test_labeller_metadata_names_what_a_real_pw_run_used(pw_code, pseudo_family):
    """One pw.x label of an Al cell: the pseudopotential, cutoffs and pw.x version come from that run."""
    from aiida import orm
    from aiida.engine import run_get_node
    from ase.build import bulk

    from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain
    from aiida_mlip_autopipe.pseudos import DEBIAN_PSEUDO_DIR

    overrides = {'kpoints_distance': 0.5, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 18.0, 'ecutrho': 72.0}}}}
    _, node = run_get_node(
        DftLabellingWorkChain,
        structures={'al': orm.StructureData(ase=bulk('Al', 'fcc', a=4.0))},
        code=pw_code,
        protocol=orm.Str('fast'),
        overrides=orm.Dict(overrides),
    )
    assert node.is_finished_ok, node.exit_message
    calculation = find_called(node, {PW_PROCESS_TYPE})[PW_PROCESS_TYPE]
    config = {
        'elements': ['Al'],
        'dft': {'protocol': 'fast', 'overrides': overrides, 'pseudo_family': pseudo_family.label},
    }
    info = labeller_metadata(calculation, config)

    assert info['pseudopotentials']['Al']['filename'] == 'Al.pz-vbc.UPF'
    content = (Path(DEBIAN_PSEUDO_DIR) / 'Al.pz-vbc.UPF').read_bytes()
    assert info['pseudopotentials']['Al']['md5'] == hashlib.md5(content).hexdigest()
    assert calculation.uuid in info['pseudopotentials_from']
    assert info['cutoffs_ry'] == {'ecutwfc': 18.0, 'ecutrho': 72.0}
    assert info['family_recommended_cutoffs_ry']['stringency'] == 'low'
    assert info['protocol'] == 'fast' and info['overrides'] == overrides
    stdout = calculation.outputs.retrieved.base.repository.get_object_content('aiida.out')
    assert info['pw_version'] == re.search(r'Program PWSCF v\.(\S+) starts', stdout).group(1)


def test_example_structure_is_the_reference_crystal_of_at_least_100_atoms():
    for element, count in (('Cu', 108), ('Fe', 128), ('Mg', 144)):
        atoms = example_structure(element)
        assert len(atoms) == count and set(atoms.get_chemical_symbols()) == {element}
        assert atoms.get_all_distances(mic=True)[0][1:].min() > 2.0
    assert set(FILES) >= {'README.txt', 'metadata.json', 'use_with_ase.py'}
