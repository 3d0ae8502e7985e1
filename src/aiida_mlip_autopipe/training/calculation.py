"""``PacemakerCalculation``: one pacemaker ACE fit, its YACE conversion and active set, in one job."""

from __future__ import annotations

import math
from io import BytesIO

import numpy as np
from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo
from aiida.engine import CalcJob
from ase.data import atomic_numbers
from pydantic import ValidationError

from ..common.errors import format_validation_error
from ..data import AcePotential, TrainingSet
from . import pacemaker_io as io


def parameters_error(parameters: dict) -> str | None:
    """Return why ``parameters`` are not valid fit parameters (naming the field and what is allowed), or None."""
    try:
        io.PacemakerParameters(**parameters)
    except ValidationError as exception:  # pacemaker's messages keep pydantic's `Value error, ` (as they always did)
        return format_validation_error(exception, 'parameters', strip_value_error=False)
    return None


def previous_potential_error(elements, previous) -> str | None:
    """Return why ``previous`` (an ``AcePotential`` or None) cannot be refitted to ``elements``, or None."""
    if previous is None or set(elements).issubset(previous.elements):
        return None
    missing = ', '.join(sorted(set(elements) - set(previous.elements)))
    return f'`previous_potential`: has no basis for {missing} (it covers {", ".join(previous.elements)})'


def environment_shortfall(training_set, functions_per_element: int) -> str | None:
    """Return why ``training_set`` has too few atoms of an element for the active set, or None.

    ``pace_activeset`` needs at least as many atomic environments of each element as the basis has
    functions per element.
    """
    numbers = training_set.get_array('numbers')  # checked at every launch: read only this column
    counts = {symbol: int(np.count_nonzero(numbers == atomic_numbers[symbol])) for symbol in training_set.elements}
    short = {symbol: count for symbol, count in counts.items() if count < functions_per_element}
    if not short:
        return None
    atoms = ', '.join(f'{count} {symbol}' for symbol, count in sorted(short.items()))
    return (
        f'`training_set`: only {atoms} atoms; the active set needs at least `number_of_functions_per_element` '
        f'({functions_per_element}) atoms of each element: add structures or lower '
        '`parameters.number_of_functions_per_element`'
    )


def training_set_error(training_set, parameters: dict, previous_potential=None) -> str | None:
    """Return why pacemaker cannot fit ``training_set`` with ``parameters`` (refitting ``previous_potential``)."""
    if training_set.count < 2:
        return f'`training_set`: {training_set.count} configuration(s); pacemaker needs at least 2'
    error = previous_potential_error(training_set.elements, previous_potential)
    if error:
        return error
    if previous_potential is not None:  # a refit keeps the basis it continues
        functions = math.ceil(previous_potential.number_of_functions / len(previous_potential.elements))
    else:
        error = parameters_error(parameters)
        if error:
            return error
        fit_parameters = io.PacemakerParameters(**parameters)
        error = io.basis_shape_error(fit_parameters, training_set.elements)
        if error:
            return error
        functions = fit_parameters.number_of_functions_per_element
    return environment_shortfall(training_set, functions)


def validate_inputs(inputs, _):
    """Refuse inputs pacemaker cannot use, before anything is submitted."""
    parameters = inputs['parameters'].get_dict() if 'parameters' in inputs else {}
    error = parameters_error(parameters)
    if error:
        return error
    training_set = inputs.get('training_set')
    if training_set is None:
        return None
    error = training_set_error(training_set, parameters, inputs.get('previous_potential'))
    if error:
        return error
    elements = set(training_set.elements)
    if 'reference_energies' in inputs:
        reference = inputs['reference_energies'].get_dict()
        missing = elements - set(reference)
        if missing:
            return f'`reference_energies`: no value for {", ".join(sorted(missing))}'
        bad = [key for key, value in reference.items() if not isinstance(value, (int, float))]
        if bad:
            return f'`reference_energies`: values must be numbers (eV); not for {", ".join(sorted(bad))}'
    return None


class PacemakerCalculation(CalcJob):
    """Fit an ACE potential with pacemaker, convert it to YACE and compute its active set.

    The code is the Python of pacemaker's own environment (``mlip-autopipe setup`` registers it
    as ``pacemaker``); the job runs a small driver, ``run_pacemaker.py``, that calls
    ``pacemaker input.yaml --no-predict``, ``pace_yaml2yace`` and ``pace_activeset`` from the
    same ``bin`` folder, stops pacemaker at 90 % of ``max_wallclock_seconds`` (its interim
    potential is kept) and records each step's exit status in ``status.json``, with pacemaker's
    peak memory, the lowest memory limit (cgroup, ``max_memory_kb``, the machine) and any
    out-of-memory kill in the job's cgroup: a pacemaker killed by a signal ran out of memory
    (330) only with that evidence, else it was killed (332).

    Energies: pacemaker fits ``energy - sum of per-element reference energies`` (``data:
    reference_energy``). They are ``reference_energies`` when given, else those of
    ``previous_potential`` (so refits stay on one energy scale), else ``auto`` (pacemaker's
    least-squares per-element energies). The potential records them
    (``AcePotential.reference_energies``).
    """

    CACHE_VERSION = 3
    _DEFAULT_PARSER = 'mlip_autopipe.pacemaker'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('training_set', valid_type=TrainingSet, help='Labelled configurations to fit (energies, forces).')
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='Fit parameters (`PacemakerParameters`): cutoff, number_of_functions_per_element, embedding, '
            'force_weight, maxiter, optimizer, test_size, seed, l1/l2_coefficient, batch_size, display_step, '
            'repulsion, repulsion_margin, activeset_batch_size, weighting, basis_shape. Missing ones take their '
            'defaults.',
        )
        spec.input(
            'previous_potential',
            valid_type=AcePotential,
            required=False,
            help='Continue from this potential: its basis and coefficients are the starting point '
            '(`number_of_functions_per_element`, `cutoff`, `embedding` and `basis_shape` are then ignored).',
        )
        spec.input(
            'reference_energies',
            valid_type=orm.Dict,
            required=False,
            help='Per-element reference energies in eV (e.g. isolated atoms); see the class docstring.',
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['parser_name'].default = cls._DEFAULT_PARSER
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['input_filename'].default = io.INPUT_FILENAME
        spec.inputs['metadata']['options']['output_filename'].default = io.PACEMAKER_STDOUT

        spec.output('potential', valid_type=AcePotential, required=False, help='The fitted potential.')
        spec.output(
            'interim_potential',
            valid_type=AcePotential,
            required=False,
            help='The last interim potential (B-basis only) of a fit stopped by the time limit.',
        )
        spec.output(
            'metrics',
            valid_type=orm.Dict,
            required=False,
            help='Train/test energy RMSE (meV/atom), force RMSE (meV/A), loss per iteration, step times, '
            'structures fitted/tested/left out and weight spreads (no test_* keys without a test split).',
        )
        spec.default_output_node = 'metrics'

        spec.exit_code(310, 'ERROR_MISSING_POTENTIAL', message='pacemaker left no potential: {detail}')
        spec.exit_code(320, 'ERROR_NAN_LOSS', message='the loss became NaN: {detail}')
        spec.exit_code(330, 'ERROR_OUT_OF_MEMORY', message='pacemaker ran out of memory: {detail}')
        spec.exit_code(331, 'ERROR_TENSORFLOW', message='TensorFlow failed: {detail}')
        spec.exit_code(
            332,
            'ERROR_KILLED',
            message='pacemaker was killed by a signal without evidence of running out of memory: {detail}',
        )
        spec.exit_code(
            340,
            'ERROR_TIME_LIMIT',
            message='pacemaker was stopped by the time limit ({detail}); the interim potential is in '
            '`interim_potential`',
        )
        spec.exit_code(350, 'ERROR_ACTIVE_SET_FAILED', message='pace_activeset failed: {detail}')
        spec.exit_code(351, 'ERROR_YACE_CONVERSION', message='pace_yaml2yace failed: {detail}')

    def prepare_for_submission(self, folder):
        """Write the data pickle, ``input.yaml``, the driver and the previous potential."""
        parameters = io.PacemakerParameters(**self.inputs.parameters.get_dict())
        training_set = self.inputs.training_set
        weighting = parameters.weighting
        if weighting is not None and weighting.energy == 'convex_hull':
            arrays = [training_set.get_array(name) for name in ('numbers', 'natoms', 'energies')]
            if not io.convex_hull_possible(*arrays):
                # pacemaker's Qhull would stop the fit; the energy above the lowest is the next best reference
                weighting = weighting.model_copy(update={'energy': 'cohesive'})
                parameters = parameters.model_copy(update={'weighting': weighting})
                self.report(
                    'energy weighting: the compositions and energies of the training set do not span a convex '
                    'hull; weighting by the energy above the lowest (`cohesive`) instead'
                )
        io.write_pacemaker_dataframe(training_set.iter_atoms(), folder.get_abs_path(io.DATA_FILENAME))

        potential_filename = None
        reference = 'auto'
        if 'previous_potential' in self.inputs:
            previous = self.inputs.previous_potential
            folder.create_file_from_filelike(
                BytesIO(previous.get_content('yaml')), io.PREVIOUS_POTENTIAL_FILENAME, mode='wb'
            )
            potential_filename = io.PREVIOUS_POTENTIAL_FILENAME
            if previous.reference_energies:
                reference = dict(previous.reference_energies)
        if 'reference_energies' in self.inputs:
            reference = self.inputs.reference_energies.get_dict()
        io.write_pacemaker_input(
            folder.get_abs_path(io.INPUT_FILENAME),
            parameters,
            training_set.elements,
            io.DATA_FILENAME,
            potential_filename,
            reference,
            structure_count=training_set.count,
        )
        with folder.open(io.DRIVER_FILENAME, 'w') as handle:
            handle.write(io.driver_script())

        time_limit = io.soft_time_limit(self.inputs.metadata.options.get('max_wallclock_seconds'))
        codeinfo = CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        margin = parameters.repulsion_margin if parameters.repulsion else 0.0
        memory = self.inputs.metadata.options.get('max_memory_kb')
        codeinfo.cmdline_params = io.driver_arguments(time_limit, parameters.activeset_batch_size, margin, memory)
        codeinfo.stdout_name = 'driver.out'
        codeinfo.stderr_name = 'driver.err'

        calcinfo = CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [*io.RETRIEVE_LIST, 'driver.out', 'driver.err']
        # the training set node already holds the data: keep the pickle out of the repository
        calcinfo.provenance_exclude_list = [io.DATA_FILENAME]
        return calcinfo
