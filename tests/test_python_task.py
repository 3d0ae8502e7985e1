"""``PythonTaskCalculation``: the plugin's minutes-long Python work as a job with the plugin's Python."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlip_autopipe.common.python_task import PythonTaskCalculation
from aiida_mlip_autopipe.common.task_io import atoms_from_dict, atoms_to_dict, load_task, run_task, task_path
from aiida_mlip_autopipe.data import AcePotential
from aiida_mlip_autopipe.validation.tasks import potential_properties

from .validation.test_properties import FIXTURE

SETTINGS = {
    'cells': ['Cu'],
    'properties': ['eos', 'elastic'],
    'strains': [-0.01, -0.005, 0.005, 0.01],
    'supercell': 2,
    'phonon_supercell': 2,
}


@pytest.mark.parametrize(
    ('path', 'message'),
    [
        ('json:dumps', 'is not a task: give `module:function` of a module of aiida_mlip_autopipe'),
        ('aiida_mlip_autopipe.validation.tasks', 'is not a task'),
        ('aiida_mlip_autopipe.validation.tasks:ordered_cells', '`aiida_mlip_autopipe.validation.tasks` has no task'),
        ('aiida_mlip_autopipe.nowhere:potential_properties', 'module `aiida_mlip_autopipe.nowhere` cannot be imported'),
    ],
)
def test_only_marked_functions_of_the_plugin_are_tasks(path, message):
    with pytest.raises(ValueError, match=message):
        load_task(path)
    assert load_task(task_path(potential_properties)) is potential_properties


def test_structures_cross_the_json_with_every_digit():
    atoms = bulk('Cu', 'fcc', a=3.6123456789012345, cubic=True)
    atoms.rattle(0.1, seed=3)
    again = atoms_from_dict(atoms_to_dict(atoms))
    assert np.array_equal(again.positions, atoms.positions) and np.array_equal(again.cell.array, atoms.cell.array)
    assert list(again.numbers) == list(atoms.numbers) and list(again.pbc) == [True] * 3


def test_a_task_that_cannot_use_its_inputs_is_refused_other_errors_fail(tmp_path):
    content = {'task': task_path(potential_properties), 'parameters': SETTINGS, 'structures': {}}
    refused = run_task(content, tmp_path)  # no potential folder: the calculator cannot be made
    assert (
        refused['status'] == 'refused' and refused['error']['message'] == 'the task needs a potential (potential.yaml)'
    )
    failed = run_task({**content, 'parameters': {}}, tmp_path)  # no `cells` key: a bug, not a refusal
    assert failed['status'] == 'failed' and failed['error']['type'] == 'KeyError'
    assert run_task({**content, 'task': 'json:dumps'}, tmp_path)['status'] == 'import_error'


def flat(value, prefix='') -> dict:
    """Return the numbers of nested dicts and lists keyed by their path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flat(item, f'{prefix}/{key}').items()}
    if isinstance(value, (list, tuple)):
        return {k: v for index, item in enumerate(value) for k, v in flat(item, f'{prefix}/{index}').items()}
    return {prefix: value}


@pytest.fixture
def potential(aiida_profile):
    return AcePotential.from_files(FIXTURE / 'potential.yaml', FIXTURE / 'potential.yace', FIXTURE / 'potential.asi')


def test_the_job_gives_what_the_task_gives_here(potential, python_code):
    """The job runs with the registered Python in its own process; its Dict equals the in-process result."""
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    from aiida_mlip_autopipe.validation.properties import calculator_properties

    cell = bulk('Cu', 'fcc', a=3.6)
    builder = PythonTaskCalculation.get_builder()
    builder.code = python_code
    builder.task = orm.Str(task_path(potential_properties))
    builder.parameters = orm.Dict(SETTINGS)
    builder.potential = potential
    builder.structures = {'Cu': orm.StructureData(ase=cell)}
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    here = calculator_properties(
        {'Cu': cell},
        PyACECalculator(BBasisConfiguration(str(FIXTURE / 'potential.yaml'))),
        properties=SETTINGS['properties'],
    )
    assert flat(results['result'].get_dict()) == pytest.approx(flat(here), rel=1e-12)
    row = results['result']['Cu']
    assert row['eos']['lattice_a'] == pytest.approx(3.585, abs=0.005)  # the fixture was fitted to EMT Cu
    assert row['elastic']['c11'] > row['elastic']['c12'] > 0
    # the job's own process: the daemon's (or this) Python is not where the numbers came from
    assert 'potential_properties: ok' in node.outputs.retrieved.base.repository.get_object_content('task.out')


def test_refusals_and_a_python_without_the_plugin_are_exit_codes(potential, python_code, localhost):
    builder = PythonTaskCalculation.get_builder()
    builder.code = python_code
    builder.task = orm.Str(task_path(potential_properties))
    builder.parameters = orm.Dict(SETTINGS)
    builder.structures = {'Cu': orm.StructureData(ase=bulk('Cu', 'fcc', a=3.6))}
    _, node = run_get_node(builder)  # no potential
    assert node.exit_status == PythonTaskCalculation.exit_codes.ERROR_TASK_REFUSED.status
    assert node.exit_message == 'the task needs a potential (potential.yaml)'

    bare = orm.InstalledCode(  # a Python of another environment: the plugin is not installed there
        label='system-python', computer=localhost, filepath_executable='/usr/bin/python3'
    ).store()
    builder.code = bare
    builder.potential = potential
    _, node = run_get_node(builder)
    assert node.exit_status == PythonTaskCalculation.exit_codes.ERROR_MISSING_OUTPUT.status
    assert "No module named 'aiida_mlip_autopipe'" in node.exit_message
    builder.task = orm.Str('json:dumps')
    with pytest.raises(ValueError, match='`task`: `json:dumps` is not a task'):
        run_get_node(builder)
