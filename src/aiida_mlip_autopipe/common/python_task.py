"""``PythonTaskCalculation``: minutes-long Python work of this plugin as a job on the computer, not in the daemon.

A calcfunction runs inside the daemon worker: while it computes, that worker advances no other
process. The validation's properties and MD in ASE, and the exploration's selection, take seconds to
many minutes, so they run as jobs instead: the code is the Python of an environment where this plugin
is installed (``mlip-autopipe setup`` registers the one it runs in as ``python``), the job runs
``python -m aiida_mlip_autopipe.common.task_run`` on the inputs written as JSON (:mod:`.task_io`),
and :class:`PythonTaskParser` turns its ``task_results.json`` into a ``result`` Dict and, when the
task gives structures, ``StructureData`` outputs. The graph keeps inputs -> job -> outputs.
"""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.engine import CalcJob, ExitCode
from aiida.plugins import DataFactory

from .json_job import JsonResultsParser, json_job_calcinfo
from .task_io import INPUTS_NAME, POTENTIAL_FILES, POTENTIAL_FOLDER, RESULTS_NAME, atoms_from_dict, atoms_to_dict
from .task_io import load_task as _load_task

#: Default ``metadata.options`` of a task job: one process, no MPI.
DEFAULT_RESOURCES = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
OUTPUT_NAME = 'task.out'
DRIVER_MODULE = 'aiida_mlip_autopipe.common.task_run'


def trajectory_arrays(trajectory: orm.TrajectoryData) -> dict:
    """Return the arrays of a ``TrajectoryData`` as JSON lists: positions, cells, steps, symbols and the others."""
    arrays = {name: trajectory.get_array(name).tolist() for name in trajectory.get_arraynames()}
    arrays['steps'] = np.asarray(trajectory.get_stepids()).tolist()
    arrays['symbols'] = list(trajectory.symbols)
    return arrays


def python_options_error(inputs) -> str | None:
    """Return why a work chain's ``python_options`` are not ``metadata.options`` of a task job, or None."""
    if 'python_options' not in inputs:
        return None
    allowed = set(PythonTaskCalculation.spec().inputs['metadata']['options'])
    unknown = sorted(set(inputs['python_options'].get_dict()) - allowed)
    if unknown:
        return f'`python_options`: unknown keys {", ".join(unknown)}; give `metadata.options` of a CalcJob'
    return None


def validate_inputs(inputs, _):
    """Refuse a task that is not one of this plugin's, before submission."""
    if 'task' in inputs:
        try:
            _load_task(inputs['task'].value)
        except ValueError as exception:
            return f'`task`: {exception}'
    return None


class PythonTaskCalculation(CalcJob):
    """Run a task of this plugin (a function marked with ``task_io.task``) as a job with the plugin's Python.

    Inputs: ``task`` (``module:function``), ``parameters``, ``potential`` (its files in ``potential/``),
    ``structures`` and ``trajectories``. Outputs: ``result`` and ``structures``. A task that cannot use its
    inputs (it raised ``ValueError``, ``RuntimeError`` or an arithmetic error) ends with 310 and the
    task's own message; another exception with 320; a job that wrote no results (killed, no plugin in
    the code's Python) with 300.
    """

    CACHE_VERSION = 1

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('task', valid_type=orm.Str, help='The task: `module:function` of this plugin (see `task_io`).')
        spec.input('parameters', valid_type=orm.Dict, default=lambda: orm.Dict({}), help="The task's settings.")
        # by entry point: `common` imports nothing else of the package (docs/architecture.rst)
        spec.input(
            'potential',
            valid_type=DataFactory('mlip_autopipe.ace_potential'),
            required=False,
            help='The potential the task uses.',
        )
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures by key.')
        spec.input_namespace(
            'trajectories', valid_type=orm.TrajectoryData, dynamic=True, help='Trajectories (e.g. MD frames) by key.'
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = dict(DEFAULT_RESOURCES)
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['output_filename'].default = OUTPUT_NAME
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.python_task'

        spec.output('result', valid_type=orm.Dict, help="The task's result.")
        spec.output_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures it gave.')
        spec.default_output_node = 'result'

        spec.exit_code(300, 'ERROR_MISSING_OUTPUT', message=f'the job wrote no `{RESULTS_NAME}`: {{detail}}')
        spec.exit_code(301, 'ERROR_INVALID_OUTPUT', message=f'`{RESULTS_NAME}` could not be read: {{detail}}')
        spec.exit_code(302, 'ERROR_TASK_NOT_LOADED', message="the code's Python cannot run the task: {detail}")
        spec.exit_code(310, 'ERROR_TASK_REFUSED', message='{detail}')
        spec.exit_code(320, 'ERROR_TASK_FAILED', message='the task raised {detail}')

    def prepare_for_submission(self, folder):
        """Write the task's inputs as JSON and copy the potential's files; the code runs the task driver."""
        content = {
            'task': self.inputs.task.value,
            'parameters': self.inputs.parameters.get_dict(),
            'structures': {
                key: atoms_to_dict(node.get_ase()) for key, node in sorted(self.inputs.get('structures', {}).items())
            },
            'trajectories': {
                key: trajectory_arrays(node) for key, node in sorted(self.inputs.get('trajectories', {}).items())
            },
        }
        with folder.open(INPUTS_NAME, 'w') as handle:
            json.dump(content, handle)
        local_copy_list = []
        if 'potential' in self.inputs:
            potential = self.inputs.potential
            folder.get_subfolder(POTENTIAL_FOLDER, create=True)
            for key, name in POTENTIAL_FILES.items():
                if potential.has_file(key):
                    local_copy_list.append((potential.uuid, name, f'{POTENTIAL_FOLDER}/{name}'))

        return json_job_calcinfo(self, ['-m', DRIVER_MODULE], RESULTS_NAME, local_copy_list)


def error_detail(results: dict) -> str:
    """Return ``<type>: <message>`` of a failed task's results."""
    error = results.get('error') or {}
    return f'{error.get("type", "Error")}: {error.get("message", "")}'


class PythonTaskParser(JsonResultsParser):
    """Parse a ``PythonTaskCalculation``: ``result`` and ``structures``, or an exit code; never raises."""

    CACHE_VERSION = 1
    results_name = RESULTS_NAME

    def parse_results(self, results: dict, exit_codes) -> ExitCode:
        """Output the task's ``result`` and ``structures``, or the exit code of its ``status``."""
        status = results['status']
        if status in ('import_error', 'input_error'):
            return exit_codes.ERROR_TASK_NOT_LOADED.format(detail=error_detail(results))
        if status == 'refused':
            return exit_codes.ERROR_TASK_REFUSED.format(detail=(results.get('error') or {}).get('message', ''))
        if status != 'ok':
            traceback = (results.get('error') or {}).get('traceback', '')
            if traceback:
                self.logger.error(f'the task raised:\n{traceback}')
            return exit_codes.ERROR_TASK_FAILED.format(detail=error_detail(results))
        try:
            structures = {key: atoms_from_dict(value) for key, value in results.get('structures', {}).items()}
            result = orm.Dict(results['result'])
        except (KeyError, TypeError, ValueError) as exception:
            return exit_codes.ERROR_INVALID_OUTPUT.format(detail=f'{type(exception).__name__}: {exception}')
        self.out('result', result)
        for key, atoms in sorted(structures.items()):
            self.out(f'structures.{key}', orm.StructureData(ase=atoms))
        return ExitCode(0)
