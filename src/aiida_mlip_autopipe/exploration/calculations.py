"""``LammpsMdCalculation``: one extrapolation-grade MD run of ``lmp`` (LAMMPS with ML-PACE)."""

from __future__ import annotations

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob
from pydantic import ValidationError

from ..data import AcePotential
from .inputs import (
    DATA_NAME,
    DUMP_NAME,
    FINAL_DUMP_NAME,
    INPUT_NAME,
    LOG_NAME,
    SERIES_NAME,
    MdParameters,
    check_finite_cell,
    pair_species,
    write_data_file,
    write_md_input,
)

OUTPUT_NAME = 'lammps.out'


def parameters_error(parameters: dict) -> str | None:
    """Return what is wrong with MD ``parameters`` (naming the field and what is allowed), or ``None``."""
    try:
        MdParameters(**parameters)
    except ValidationError as exception:
        messages = []
        for error in exception.errors():
            location = '.'.join(str(part) for part in error['loc'])
            messages.append(f'`parameters{"." + location if location else ""}`: {error["msg"]}')
        return '; '.join(messages)
    return None


def validate_inputs(inputs, _):
    """Refuse inputs LAMMPS cannot run, before submission."""
    potential = inputs.get('potential')
    if potential is not None and not potential.has_file('asi'):
        return '`potential`: has no active set (potential.asi); pace/extrapolation needs it'
    if 'parameters' in inputs:
        error = parameters_error(inputs['parameters'].get_dict())
        if error:
            return error
    structure = inputs.get('structure')
    if structure is not None and potential is not None:
        symbols = sorted({kind.symbol for kind in structure.kinds} - set(potential.elements))
        if symbols:
            return f'`structure`: elements {symbols} are not described by the potential ({potential.elements})'
        reason = check_finite_cell(structure.get_ase())
        if reason:
            return f'`structure`: {reason}'
    return None


class LammpsMdCalculation(CalcJob):
    """MD with an ACE potential in LAMMPS, watching the extrapolation grade gamma.

    Frames whose largest per-atom gamma reaches ``gamma_lower`` are dumped; the run halts cleanly
    when gamma exceeds ``gamma_upper`` or a guard trips (pressure, short distance, lost atoms,
    temperature). A halted run is a normal outcome: the report says why and when.
    """

    CACHE_VERSION = 1

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('potential', valid_type=AcePotential, help='ACE potential with its active set (.yaml + .asi).')
        spec.input('structure', valid_type=orm.StructureData, help='Starting structure (periodic).')
        spec.input('parameters', valid_type=orm.Dict, help='MD parameters; see `MdParameters`.')
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['output_filename'].default = OUTPUT_NAME
        spec.inputs['metadata']['options']['parser_name'].default = 'mlip_autopipe.lammps.md'

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

        spec.exit_code(300, 'ERROR_NO_LOG', message=f'LAMMPS wrote no `{LOG_NAME}`: {{detail}}')
        spec.exit_code(301, 'ERROR_NO_SERIES', message=f'LAMMPS wrote no gamma series `{SERIES_NAME}`: {{detail}}')
        spec.exit_code(310, 'ERROR_LAMMPS', message='LAMMPS stopped with an error: {detail}')
        spec.exit_code(320, 'ERROR_NON_FINITE', message='the run produced non-finite or exploded values: {detail}')
        spec.exit_code(321, 'ERROR_INCOMPLETE', message='the run ended before its last step without a halt: {detail}')

    def prepare_for_submission(self, folder):
        """Write the data file and the input script; the potential files are copied from the repository."""
        potential = self.inputs.potential
        parameters = MdParameters(**self.inputs.parameters.get_dict())
        pair_lines = potential.lammps_pair_lines(extrapolation=True)
        species = pair_species(pair_lines)
        atoms = self.inputs.structure.get_ase()
        with folder.open(DATA_NAME, 'w') as handle:
            handle.write(write_data_file(atoms, species))
        with folder.open(INPUT_NAME, 'w') as handle:
            types = sorted({species.index(symbol) + 1 for symbol in atoms.get_chemical_symbols()})
            handle.write(write_md_input(parameters, pair_lines, len(atoms), types))

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = ['-nocite', '-in', INPUT_NAME, '-log', LOG_NAME]
        codeinfo.stdout_name = self.options.output_filename

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = [
            (potential.uuid, 'potential.yaml', 'potential.yaml'),
            (potential.uuid, 'potential.asi', 'potential.asi'),
        ]
        calcinfo.retrieve_list = [
            LOG_NAME,
            SERIES_NAME,
            DUMP_NAME,
            FINAL_DUMP_NAME,
            self.options.output_filename,
            self.options.scheduler_stderr,
        ]
        return calcinfo
