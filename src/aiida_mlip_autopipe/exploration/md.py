"""``LammpsMdWorkChain``: one extrapolation-grade MD run through aiida-lammps' ``lammps.raw`` CalcJob.

aiida-lammps runs LAMMPS; this plugin writes the files and reads the gamma:

1. :func:`~.functions.generate_lammps_md_files` (calcfunction): the input script, the data file
   and the potential's ``.yaml`` and ``.asi`` as ``SinglefileData``;
2. ``lammps.raw`` (``LammpsRawCalculation``) with that script and those files, retrieving the log,
   the gamma series and the dumps besides its own ``lammps.out``; any code registered for
   aiida-lammps (or for ``lammps.raw`` by ``mlip-autopipe setup``) runs it;
3. :func:`~.functions.parse_lammps_md` (calcfunction) on the retrieved folder: ``report``,
   ``series``, ``candidates`` and ``final_structure``, or the exit code of a failed run.

Why not ``lammps.base``, and why the gamma is parsed outside aiida-lammps: see docs/exploration.rst.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, ToContext, WorkChain
from aiida.plugins import CalculationFactory
from pydantic import ValidationError

from ..common.engine import submit_once
from ..common.errors import format_validation_error
from ..data import AcePotential
from .functions import generate_lammps_md_files, parse_lammps_md
from .inputs import MdParameters, check_starting_structure
from .parsers import MD_EXIT_CODES, MD_FILES

#: The parser of the ``lammps.raw`` jobs: aiida-lammps' own, kept from raising (``LammpsRawMdParser``).
PARSER_NAME = 'mlip_autopipe.lammps.raw'
#: ``metadata.options`` of the ``lammps.raw`` job unless the ``options`` input says otherwise.
DEFAULT_OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'withmpi': False}


def parameters_error(parameters: dict) -> str | None:
    """Return what is wrong with MD ``parameters`` (naming the field and what is allowed), or ``None``."""
    try:
        MdParameters(**parameters)
    except ValidationError as exception:
        return format_validation_error(exception, 'parameters')
    return None


def validate_inputs(inputs, _):
    """Refuse inputs LAMMPS cannot run, before anything is submitted."""
    potential = inputs.get('potential')
    if potential is not None and not potential.has_file('asi'):
        return '`potential`: has no active set (potential.asi); pace/extrapolation needs it'
    if 'parameters' in inputs:
        error = parameters_error(inputs['parameters'].get_dict())
        if error:
            return error
    structure = inputs.get('structure')
    if structure is not None:
        reason = check_starting_structure(structure.get_ase(), potential.elements if potential is not None else None)
        if reason:
            return f'`structure`: {reason}'
    if 'options' in inputs:
        unknown = sorted(set(inputs['options'].get_dict()) - set(_calcjob_options()))
        if unknown:
            return f'`options`: unknown keys {unknown}; give `metadata.options` of a CalcJob'
    return None


def _calcjob_options() -> list[str]:
    return list(CalculationFactory('lammps.raw').spec().inputs['metadata']['options'])


class LammpsMdWorkChain(WorkChain):
    """MD with an ACE potential in LAMMPS (aiida-lammps ``lammps.raw``), watching the extrapolation grade gamma.

    Frames whose largest per-atom gamma reaches ``gamma_lower`` are dumped; the run halts cleanly
    when gamma exceeds ``gamma_upper`` or a guard trips (pressure, short distance, lost atoms,
    temperature). A halted run is a normal outcome: the report says why and when.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'code',
            valid_type=orm.AbstractCode,
            help='LAMMPS with ML-PACE (pair_style pace/extrapolation), run through aiida-lammps `lammps.raw`.',
        )
        spec.input('potential', valid_type=AcePotential, help='The ACE potential with its active set (.yaml + .asi).')
        spec.input('structure', valid_type=orm.StructureData, help='Starting structure (periodic).')
        spec.input('parameters', valid_type=orm.Dict, help='MD parameters; see `MdParameters`.')
        spec.input(
            'options',
            valid_type=orm.Dict,
            required=False,
            help='`metadata.options` of the `lammps.raw` job (default: one process, no MPI).',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(cls.run_lammps, cls.parse)

        spec.output('report', valid_type=orm.Dict, help='Max gamma, fractions above thresholds, halt, sanity.')
        spec.output('series', valid_type=orm.ArrayData, help='Per gamma step: step, temp, pe, press, vol, max_gamma.')
        spec.output(
            'candidates',
            valid_type=orm.TrajectoryData,
            required=False,
            help='Frames with max gamma >= gamma_lower (array `gamma`: per-atom grade), LAMMPS orientation.',
        )
        spec.output('final_structure', valid_type=orm.StructureData, required=False, help='The last frame.')
        spec.default_output_node = 'report'

        for label, (status, message) in MD_EXIT_CODES.items():
            spec.exit_code(status, label, message=message)
        spec.exit_code(
            350,
            'ERROR_LAMMPS_JOB',
            message='the lammps.raw job failed and retrieved nothing to read: {detail}',
        )

    def run_lammps(self):
        """Write the files and submit aiida-lammps' ``lammps.raw`` job."""
        files = generate_lammps_md_files(
            self.inputs.potential,
            self.inputs.structure,
            self.inputs.parameters,
            metadata={'call_link_label': 'files'},
        )
        builder = CalculationFactory('lammps.raw').get_builder()
        builder.code = self.inputs.code
        builder.script = files['script']
        builder.files = {key: files[key] for key in ('data', 'potential_yaml', 'potential_asi')}
        builder.settings = orm.Dict({'additional_retrieve_list': list(MD_FILES)})  # + the scheduler's files
        options = {**DEFAULT_OPTIONS, 'parser_name': PARSER_NAME}
        if 'options' in self.inputs:
            options.update(self.inputs.options.get_dict())
        builder.metadata.options = options
        node = submit_once(self, builder, 'lammps')
        self.report(f'{node.process_label}<{node.pk}> (lammps.raw) on {self.inputs.code.full_label}')
        return ToContext(lammps=node)

    def parse(self):
        """Read the gamma series, dumps and halts from what the job retrieved; fail as the run did."""
        calculation = self.ctx.lammps
        if 'retrieved' not in calculation.outputs:
            detail = f'{calculation.process_label}<{calculation.pk}> exit {calculation.exit_status}: '
            detail += calculation.exit_message or str(calculation.process_state.value)
            return self.exit_codes.ERROR_LAMMPS_JOB.format(detail=detail)
        if not calculation.is_finished_ok:
            self.report(f'lammps.raw exit {calculation.exit_status}: {calculation.exit_message}; reading its files')
        results, node = parse_lammps_md.run_get_node(
            calculation.outputs.retrieved,
            self.inputs.potential,
            self.inputs.structure,
            self.inputs.parameters,
            metadata={'call_link_label': 'parse'},
        )
        if not node.is_finished_ok:
            return ExitCode(node.exit_status, node.exit_message)
        self.out_many(results)
        return None
