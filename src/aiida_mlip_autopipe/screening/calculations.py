"""``SurrogateCalculation``: energies, forces, stress and descriptors from a pretrained universal potential."""

from __future__ import annotations

import json
from importlib import resources

from aiida import orm
from aiida.engine import CalcJob

from ..common.json_job import json_job_calcinfo
from ..data import TrainingSet

#: Parameters of the surrogate run and their defaults.
DEFAULT_PARAMETERS = {
    'model_name': '0.3.0',
    'relax': False,
    'fmax': 0.1,
    'steps': 20,
    'relax_cell': False,
    'threads': None,
}
#: Pretrained CHGNet models shipped inside the ``chgnet`` package (no download at run time).
MODEL_NAMES = ('0.3.0', '0.2.0')

SCRIPT_NAME = 'surrogate_run.py'
STRUCTURES_NAME = 'structures.json'
PARAMETERS_NAME = 'parameters.json'
RESULTS_NAME = 'results.json'
OUTPUT_NAME = 'surrogate.out'
MODEL_FILE_NAME = 'model.pth.tar'


def parameters_error(parameters: dict) -> str | None:
    """Return what is wrong with surrogate ``parameters`` (naming the field and what is allowed), or ``None``."""
    unknown = sorted(set(parameters) - set(DEFAULT_PARAMETERS))
    if unknown:
        return f'`parameters`: unknown keys {", ".join(unknown)}; allowed: {", ".join(DEFAULT_PARAMETERS)}'
    if parameters.get('model_name', '0.3.0') not in MODEL_NAMES:
        allowed = ', '.join(MODEL_NAMES)
        return f'`parameters.model_name`: `{parameters["model_name"]}` is not shipped; allowed: {allowed}'
    for name in ('relax', 'relax_cell'):
        if not isinstance(parameters.get(name, False), bool):
            return f'`parameters.{name}`: give true or false, not {parameters[name]!r}'
    fmax = parameters.get('fmax', 0.1)
    if isinstance(fmax, bool) or not isinstance(fmax, (int, float)) or not fmax > 0:
        return f'`parameters.fmax`: {fmax!r} is not allowed; give a force (eV/A) > 0'
    for name, minimum in (('steps', 0), ('threads', 1)):
        value = parameters.get(name, DEFAULT_PARAMETERS[name])
        if value is None and name == 'threads':
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f'`parameters.{name}`: {value!r} is not allowed; give an integer >= {minimum}'
    return None


def validate_inputs(inputs, _):
    """Refuse inputs the surrogate cannot run, before submission."""
    if not inputs.get('structures'):
        return '`structures`: give at least one structure'
    if 'parameters' in inputs:
        error = parameters_error(inputs['parameters'].get_dict())
        if error:
            return error
    for key, structure in inputs['structures'].items():
        if not all(structure.pbc) or structure.get_cell_volume() <= 0:
            return f'`structures.{key}`: the surrogate needs a periodic cell in all three directions'
    return None


class SurrogateCalculation(CalcJob):
    """Evaluate structures with CHGNet (pretrained weights shipped in its package) in the surrogate's venv.

    Each structure gets energy, forces, stress and a size-intensive descriptor (CHGNet's crystal
    feature per atom); with ``parameters.relax`` it is first relaxed (FIRE, ``fmax``, ``steps``,
    optionally the cell). One structure failing is recorded in ``output_parameters['failed']``;
    the job fails only when the model cannot load or no structure could be evaluated.
    """

    CACHE_VERSION = 2

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Structures by key.')
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            help=f'Run parameters; keys and defaults: {DEFAULT_PARAMETERS}.',
        )
        spec.input(
            'model_file',
            valid_type=orm.SinglefileData,
            required=False,
            help='A CHGNet checkpoint of your own, used instead of the shipped pretrained model.',
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['output_filename'].default = OUTPUT_NAME
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.surrogate'

        spec.output('labels', valid_type=TrainingSet, help='Surrogate labels of the input geometries.')
        spec.output('relaxed_labels', valid_type=TrainingSet, required=False, help='Labels after relaxation.')
        spec.output_namespace(
            'relaxed_structures', valid_type=orm.StructureData, dynamic=True, help='Relaxed structures by key.'
        )
        spec.output(
            'descriptors',
            valid_type=orm.ArrayData,
            help='One descriptor array per structure key (of the relaxed geometry when relaxing).',
        )
        spec.output('output_parameters', valid_type=orm.Dict, help='Model, timings, relaxation steps, failures.')
        spec.default_output_node = 'output_parameters'

        spec.exit_code(300, 'ERROR_MISSING_OUTPUT', message=f'the surrogate wrote no `{RESULTS_NAME}`: {{detail}}')
        spec.exit_code(301, 'ERROR_INVALID_OUTPUT', message=f'`{RESULTS_NAME}` could not be read: {{detail}}')
        spec.exit_code(302, 'ERROR_INPUT_UNREADABLE', message='the surrogate could not read its input: {detail}')
        spec.exit_code(310, 'ERROR_MODEL_LOAD', message='the surrogate model could not be loaded: {detail}')
        spec.exit_code(
            320, 'ERROR_ALL_STRUCTURES_FAILED', message='no structure could be evaluated; first failure: {detail}'
        )
        spec.exit_code(321, 'ERROR_STRUCTURES_MISSING', message='results are missing for structures: {detail}')

    def prepare_for_submission(self, folder):
        """Write the structures, the parameters and the run script; the code is the venv's Python."""
        parameters = dict(DEFAULT_PARAMETERS)
        if 'parameters' in self.inputs:
            parameters.update(self.inputs.parameters.get_dict())
        local_copy_list = []
        if 'model_file' in self.inputs:
            node = self.inputs.model_file
            local_copy_list.append((node.uuid, node.filename, MODEL_FILE_NAME))
            parameters['model_file'] = MODEL_FILE_NAME

        structures = []
        for key in sorted(self.inputs.structures):
            atoms = self.inputs.structures[key].get_ase()
            structures.append(
                {
                    'key': key,
                    'numbers': atoms.numbers.tolist(),
                    'positions': atoms.positions.tolist(),
                    'cell': atoms.cell.array.tolist(),
                    'pbc': atoms.pbc.tolist(),
                }
            )
        with folder.open(STRUCTURES_NAME, 'w') as handle:
            json.dump(structures, handle)
        with folder.open(PARAMETERS_NAME, 'w') as handle:
            json.dump(parameters, handle, indent=1, sort_keys=True)
        script = resources.files(__package__).joinpath(SCRIPT_NAME).read_text()
        with folder.open(SCRIPT_NAME, 'w') as handle:
            handle.write(script)

        return json_job_calcinfo(self, [SCRIPT_NAME], RESULTS_NAME, local_copy_list)
