"""The MD runs go through aiida-lammps: a code registered for aiida-lammps runs the exploration and the
validation MD unchanged; this plugin reads the gamma from the files ``lammps.raw`` retrieved."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida_lammps.parsers.raw import LammpsRawParser

from aiida_mlip_autopipe.exploration.inputs import LOG_NAME, MdParameters
from aiida_mlip_autopipe.exploration.md import LammpsMdWorkChain
from aiida_mlip_autopipe.exploration.parsers import MD_EXIT_CODES, STDOUT_NAME, LammpsRawMdParser, read_md_run
from aiida_mlip_autopipe.exploration.workchain import ExplorationWorkChain
from aiida_mlip_autopipe.validation.workchain import ValidationWorkChain

from .conftest import cuau_cell

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
SPECIES = ['Au', 'Cu']
RAW = 'aiida.calculations:lammps.raw'


def _files(case: str) -> dict[str, str]:
    return {path.name: path.read_text() for path in (FIXTURES / case).iterdir()}


def _parameters(**changes) -> MdParameters:
    return MdParameters(**{'temperature': 300, 'steps': 200, 'gamma_lower': 1.5, 'gamma_upper': 5.0, **changes})


def with_non_finite_thermo_row(log: str) -> str:
    """Return ``log`` with the potential energy of the second thermo row written as LAMMPS writes a NaN."""
    lines = log.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:1] == ['Step'])
    tokens = lines[header + 2].split()
    lines[header + 2] = lines[header + 2].replace(tokens[2], '-nan', 1)
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize(
    ('case', 'failure', 'detail'),
    [
        ('completed', None, None),
        ('halted', None, None),
        ('error', 'ERROR_NO_SERIES', 'ERROR: Cannot open file structure.data'),
        ('crash', 'ERROR_NO_SERIES', 'LAMMPS stopped before the first step'),
    ],
)
def test_read_md_run_on_captured_runs(case, failure, detail):
    run = read_md_run(_files(case), _parameters(), SPECIES, 32)
    assert (run.failure[0] if run.failure else None) == failure
    if failure is None:
        assert run.report['n_atoms'] == 32 and run.report['samples'] == len(run.series['step']) > 0
        assert run.report['halted'] == (case == 'halted')
        assert run.final is not None
    else:
        assert detail in run.failure_message
        assert run.failure_message.startswith(MD_EXIT_CODES[failure][1].split('{')[0])


def test_read_md_run_reads_the_stdout_when_the_log_is_absent_and_tells_stderr_when_both_are():
    files = _files('completed')
    files[STDOUT_NAME] = files.pop(LOG_NAME)
    assert read_md_run(files, _parameters(), SPECIES, 32).failure is None
    del files[STDOUT_NAME]
    run = read_md_run(files, _parameters(), SPECIES, 32, stderr='lmp: error while loading shared libraries')
    assert run.failure == ('ERROR_NO_LOG', 'lmp: error while loading shared libraries')


def test_non_finite_thermo_row_fails_the_run_and_aiida_lammps_raises_on_it():
    """Evidence for docs/exploration.rst: aiida-lammps 1.0.2's parser of the stdout raises on a NaN row."""
    from aiida_lammps.parsers.parse_raw import parse_outputfile

    log = with_non_finite_thermo_row(_files('completed')[LOG_NAME])
    with pytest.raises(ValueError, match='malformed node'):
        parse_outputfile(file_contents=log)
    files = {**_files('completed'), LOG_NAME: log}
    series = files['gamma.dat'].splitlines()
    series[2] = ' '.join(['nan' if i == 2 else token for i, token in enumerate(series[2].split())])
    files['gamma.dat'] = '\n'.join(series) + '\n'
    run = read_md_run(files, _parameters(), SPECIES, 32)
    assert run.failure[0] == 'ERROR_NON_FINITE' and run.report['non_finite']


def _retrieved_job(computer, files: dict[str, str]) -> orm.CalcJobNode:
    node = orm.CalcJobNode(computer=computer, process_type=RAW)
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.store()
    retrieved = orm.FolderData()
    for name, text in files.items():
        retrieved.base.repository.put_object_from_bytes(text.encode(), name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    return node


def test_our_parser_returns_an_exit_code_where_aiida_lammps_parser_raises(localhost):
    completed = _files('completed')[LOG_NAME]
    job = _retrieved_job(localhost, {STDOUT_NAME: with_non_finite_thermo_row(completed)})
    with pytest.raises(ValueError):
        LammpsRawParser.parse_from_node(job, store_provenance=False)
    _, parse = LammpsRawMdParser.parse_from_node(job, store_provenance=False)
    assert parse.exit_status == 1001  # ERROR_PARSING_OUTFILE of lammps.raw
    # on readable output it is aiida-lammps' own parsing
    results, parse = LammpsRawMdParser.parse_from_node(
        _retrieved_job(localhost, {STDOUT_NAME: completed}), store_provenance=False
    )
    assert parse.is_finished_ok
    assert results['results']['compute_variables']['errors'] == []


@pytest.fixture(scope='module')
def aiida_lammps_code(localhost, lmp_executable):
    """LAMMPS with ML-PACE registered as an aiida-lammps user does (`verdi code create core.code.installed
    --default-calc-job-plugin lammps.raw`), under a label of their own."""
    code = orm.InstalledCode(
        label='lammps-mlpace',
        computer=localhost,
        filepath_executable=lmp_executable,
        default_calc_job_plugin='lammps.raw',
        description='LAMMPS with ML-PACE for aiida-lammps',
    ).store()
    assert code.get_builder()._process_class.__name__ == 'LammpsRawCalculation'
    return code


def _md_jobs(node) -> list[orm.CalcJobNode]:
    """Return the CalcJobs under ``node`` that ran LAMMPS."""
    return [
        descendant
        for descendant in node.called_descendants
        if isinstance(descendant, orm.CalcJobNode) and 'lammps' in descendant.process_type
    ]


def _check_jobs_ran_through_aiida_lammps(jobs, code):
    assert jobs
    for job in jobs:
        assert job.process_type == RAW
        assert job.inputs.code.uuid == code.uuid
        assert job.is_finished_ok, job.exit_message
        # aiida-lammps parsed its stdout, and the run's own files came back too
        assert job.outputs.results['compute_variables']['errors'] == []
        assert {'log.lammps', 'gamma.dat', 'final.dump', 'lammps.out'} <= set(
            job.outputs.retrieved.base.repository.list_object_names()
        )


def test_exploration_runs_through_a_code_registered_for_aiida_lammps(aiida_lammps_code, python_code, cuau_potential):
    builder = ExplorationWorkChain.get_builder()
    builder.code = aiida_lammps_code
    builder.python_code = python_code
    builder.potential = cuau_potential
    builder.structures = {'cu3au': orm.StructureData(ase=cuau_cell(0.25))}
    builder.schedule = orm.Dict({'ensemble': 'npt', 'temperatures': [300, 1500], 'steps': 400, 'timestep_fs': 2.0})
    builder.gamma_lower = orm.Float(1.5)
    builder.gamma_upper = orm.Float(5.0)
    builder.max_selected = orm.Int(2)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    _check_jobs_ran_through_aiida_lammps(_md_jobs(node), aiida_lammps_code)
    report = results['report'].get_dict()
    assert report['runs_total'] == 2 and report['runs_failed'] == 0
    # each run: the files from a calcfunction, aiida-lammps' job, the gamma read by a calcfunction
    runs = [child for child in node.called if child.process_class is LammpsMdWorkChain]
    assert len(runs) == 2
    for run in runs:
        labels = sorted(link.link_label for link in run.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all())
        assert labels == ['files', 'lammps', 'parse']
        parse = run.base.links.get_outgoing(link_label_filter='parse').one().node
        job = run.base.links.get_outgoing(link_label_filter='lammps').one().node
        assert parse.inputs.retrieved.uuid == job.outputs.retrieved.uuid
        assert run.outputs.report.uuid == parse.outputs.report.uuid
        assert run.outputs.report['steps_done'] > 0


def test_validation_md_runs_through_a_code_registered_for_aiida_lammps(aiida_lammps_code, python_code, cuau_potential):
    builder = ValidationWorkChain.get_builder()
    builder.potential = cuau_potential
    builder.python_code = python_code
    builder.elements = orm.List(['Cu', 'Au'])
    builder.labeller = orm.Str('emt')
    builder.properties = orm.List(['eos', 'md'])
    builder.lmp_code = aiida_lammps_code
    builder.temperature_max = orm.Float(300.0)
    builder.md_steps = orm.Int(100)
    builder.tolerances = orm.Dict({'bulk_modulus': 0.5})
    results, node = run_get_node(builder)
    runs = results['report']['md']['runs']
    assert {run['engine'] for run in runs} == {'lammps'} and {run['temperature'] for run in runs} == {300.0, 360.0}
    jobs = _md_jobs(node)
    assert len(jobs) == len(runs)
    _check_jobs_ran_through_aiida_lammps(jobs, aiida_lammps_code)
    for run, job in zip(runs, sorted(jobs, key=lambda job: job.ctime)):
        assert run['steps_run'] > 0 and run['max_gamma'] > 0
        assert job.outputs.results['compute_variables']['units_style'] == 'metal'


def test_the_frame_that_halted_the_run_is_kept_when_the_dump_missed_it():
    files = _files('halted')
    frames = files['frames.dump'].split('ITEM: TIMESTEP\n')
    assert frames[-1].startswith('240\n')  # the halting step (fix halt_gamma in the log)
    files['frames.dump'] = 'ITEM: TIMESTEP\n'.join(frames[:-1])
    run = read_md_run(files, _parameters(), SPECIES, 32)
    assert run.report['halt_reason'] == 'gamma_upper' and run.report['halt_step'] == 240
    assert [atoms.info['step'] for atoms in run.frames][-2:] == [230, 240]
    assert run.frames[-1].info['max_gamma'] > 5.0
    # a run that completed keeps only what its dump holds
    completed = read_md_run(_files('completed'), _parameters(), SPECIES, 32)
    assert completed.report['frames_dumped'] == _files('completed')['frames.dump'].count('ITEM: TIMESTEP')
