"""``ExplorationWorkChain``: extrapolation-grade MD of starting structures, then selection of what to label."""

from __future__ import annotations

import itertools
from typing import Literal

from aiida import orm
from aiida.engine import ToContext, WorkChain, while_
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..common.engine import expose_top_level_inputs, submit_once
from ..common.errors import format_validation_error
from ..common.python_task import PythonTaskCalculation, python_options_error
from ..common.task_io import task_path
from .functions import generate_exploration_report
from .inputs import MdParameters, check_starting_structure
from .md import LammpsMdWorkChain
from .selection import SELECTION_DEFAULTS, SELECTION_METHODS, check_selection_settings
from .tasks import select_structures


class Schedule(BaseModel):
    """The MD runs of one exploration: every structure at every temperature (and pressure, for ``npt``)."""

    model_config = ConfigDict(extra='forbid')

    ensemble: Literal['nvt', 'npt'] = Field('nvt', description='`nvt` or `npt`.')
    temperatures: list[float] = Field(min_length=1, description='Temperatures (K).')
    pressures_gpa: list[float] = Field([0.0], min_length=1, description='Pressures (GPa) of `npt` runs.')
    steps: int = Field(ge=1, description='MD steps per run.')
    timestep_fs: float = Field(1.0, gt=0, le=10, description='Time step (fs).')
    gamma_every: int = Field(10, ge=1, description='Steps between gamma evaluations.')
    dump_every: int = Field(50, ge=1, description='Steps between candidate dumps.')
    max_pressure_gpa: float = Field(100.0, gt=0, description='Pressure guard (GPa from the target).')
    min_distance: float = Field(1.2, gt=0, description='Distance guard (A).')
    max_temperature_factor: float = Field(3.0, gt=1, description='Temperature guard (times the target).')
    barostat: Literal['iso', 'aniso', 'tri'] = Field('iso', description='Cell control of `npt` runs.')
    swap_every: int = Field(0, ge=0, description='Steps between Monte Carlo atom swaps; 0: none.')
    swap_attempts: int = Field(10, ge=1, description='Swaps tried each time, per pair of elements.')
    swap_temperature: float | None = Field(None, gt=0, description='Swap temperature (K); default: the MD one.')

    @model_validator(mode='after')
    def _pressures(self):
        if self.ensemble == 'nvt' and self.pressures_gpa != [0.0]:
            raise ValueError('`pressures_gpa` applies to `npt` only; leave it out for `nvt`')
        return self

    def run_parameters(self, temperature: float, pressure: float, gamma_lower: float, gamma_upper: float, seed: int):
        """Return the :class:`MdParameters` of one run."""
        fields = self.model_dump(exclude={'temperatures', 'pressures_gpa'})
        return MdParameters(
            **fields,
            temperature=temperature,
            pressure_gpa=pressure,
            gamma_lower=gamma_lower,
            gamma_upper=gamma_upper,
            seed=seed,
        )


#: Inputs of ``LammpsMdWorkChain`` exposed here under their own names and passed to every MD run.
MD_INPUTS = ('code', 'potential', 'options')
#: Keys of the ``selection`` input (the rest of the selection parameters come from the other inputs).
SELECTION_SETTINGS = (
    'method',
    'label_above_upper',
    'duplicate_tolerance',
    'min_distance',
    'max_candidates',
    'label_atoms',
    'label_atoms_max',
)


def composition_of(structure: orm.StructureData) -> dict[str, float]:
    """Return the atomic fractions of ``structure``, rounded to 0.001."""
    symbols = structure.get_ase().get_chemical_symbols()
    return {symbol: round(symbols.count(symbol) / len(symbols), 3) for symbol in sorted(set(symbols))}


def run_seed(seed: int, index: int) -> int:
    """Return the velocity seed of run ``index`` (positive, below LAMMPS's limit)."""
    return (seed * 7919 + 1000 * index + 12345) % 899_999_999 + 1


def validate_inputs(inputs, _):
    """Refuse an exploration that cannot run, before any MD is submitted."""
    potential = inputs.get('potential')
    if potential is not None and not potential.has_file('asi'):
        return '`potential`: has no active set (potential.asi); the extrapolation grade needs it'
    lower = inputs['gamma_lower'].value if 'gamma_lower' in inputs else None
    upper = inputs['gamma_upper'].value if 'gamma_upper' in inputs else None
    if lower is not None and upper is not None and not 0 < lower < upper:
        return f'`gamma_lower` ({lower}) and `gamma_upper` ({upper}): need 0 < gamma_lower < gamma_upper'
    if 'schedule' in inputs:
        try:
            schedule = Schedule(**inputs['schedule'].get_dict())
            schedule.run_parameters(schedule.temperatures[0], schedule.pressures_gpa[0], lower or 1.0, upper or 2.0, 1)
        except ValidationError as exception:
            return format_validation_error(exception, 'schedule')
    structures = inputs.get('structures', {})
    if not structures:
        return '`structures`: give at least one starting structure'
    for key, structure in structures.items():
        reason = check_starting_structure(structure.get_ase(), potential.elements if potential is not None else None)
        if reason:
            return f'`structures.{key}`: {reason}'
    if 'selection' in inputs:
        selection = inputs['selection'].get_dict()
        unknown = sorted(set(selection) - set(SELECTION_SETTINGS))
        if unknown:
            return f'`selection`: unknown keys {unknown}; allowed: {sorted(SELECTION_SETTINGS)}'
        method = selection.get('method', SELECTION_DEFAULTS['method'])
        if method not in SELECTION_METHODS:
            return f'`selection.method`: `{method}` is not one of {", ".join(SELECTION_METHODS)}'
        label_atoms = selection.get('label_atoms')
        if label_atoms is not None and (not isinstance(label_atoms, int) or label_atoms < 1):
            return f'`selection.label_atoms`: {label_atoms!r}; give a positive number of atoms or leave it out'
        try:
            check_selection_settings(selection)
        except ValueError as exception:
            return str(exception).replace('`parameters.', '`selection.')
    return python_options_error(inputs)


class ExplorationWorkChain(WorkChain):
    """Run extrapolation-grade MD from each structure under each condition, then select frames to label.

    Every starting structure runs at every temperature (and pressure, for ``npt``) of the
    ``schedule``, up to ``max_concurrent`` runs at a time. A run that halts on the upper gamma
    threshold (or a guard) is a normal outcome; a run that fails is recorded in the report and the
    exploration fails only when fewer than ``min_success_fraction`` of the runs succeed. The
    frames above the lower threshold of all runs are then reduced to at most ``max_selected``
    diverse, high-gamma structures by a ``PythonTaskCalculation`` job with ``python_code`` (the
    ``select_structures`` task), so the daemon worker stays free while it computes.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        # passed on to every MD run
        expose_top_level_inputs(spec, LammpsMdWorkChain, MD_INPUTS)
        spec.input(
            'python_code',
            valid_type=orm.AbstractCode,
            help="The plugin's Python (`mlip-autopipe setup` registers `python`): the selection runs as a "
            '`PythonTaskCalculation` job with it.',
        )
        spec.input(
            'python_options', valid_type=orm.Dict, required=False, help='`metadata.options` of the selection job.'
        )
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='Starting structures.')
        spec.input('schedule', valid_type=orm.Dict, help='MD runs; see `Schedule` (ensemble, temperatures, ...).')
        spec.input('gamma_lower', valid_type=orm.Float, default=lambda: orm.Float(1.5), help='Dump frames above.')
        spec.input('gamma_upper', valid_type=orm.Float, default=lambda: orm.Float(10.0), help='Halt runs above.')
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of velocities and selection.')
        spec.input('max_selected', valid_type=orm.Int, default=lambda: orm.Int(8), help='Most structures selected.')
        spec.input(
            'selection',
            valid_type=orm.Dict,
            required=False,
            help='Selection settings: method (`maxvol` or `farthest_point`), label_above_upper (frames at or above '
            'gamma_upper become candidates), min_distance (A), max_candidates, duplicate_tolerance (farthest_point), '
            'label_atoms (a larger frame is replaced by its periodic fragment around its atom of largest gamma), '
            'label_atoms_max (a fragment the active set grades below gamma_lower is cut larger, up to this).',
        )
        spec.input('max_concurrent', valid_type=orm.Int, default=lambda: orm.Int(4), help='MD runs at a time.')
        spec.input(
            'min_success_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.5),
            help='Fail when fewer runs than this fraction succeed.',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            while_(cls.has_pending)(cls.submit_batch, cls.inspect_batch),
            cls.check_runs,
            cls.run_selection,
            cls.inspect_selection,
        )
        spec.output_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='Selected frames to label, by key.'
        )
        spec.output('report', valid_type=orm.Dict, help='Per run and overall gamma statistics, halts, selection.')
        spec.exit_code(401, 'ERROR_TOO_MANY_RUNS_FAILED', message='{failed} of {total} MD runs failed: {first}')
        spec.exit_code(402, 'ERROR_SELECTION_FAILED', message='the selection job failed: {message}')

    def setup(self):
        """Expand the schedule into runs: structure x temperature (x pressure)."""
        schedule = Schedule(**self.inputs.schedule.get_dict())
        pressures = schedule.pressures_gpa if schedule.ensemble == 'npt' else [0.0]
        runs = {}
        combos = itertools.product(sorted(self.inputs.structures), schedule.temperatures, pressures)
        for index, (key, temperature, pressure) in enumerate(combos):
            parameters = schedule.run_parameters(
                temperature,
                pressure,
                self.inputs.gamma_lower.value,
                self.inputs.gamma_upper.value,
                run_seed(self.inputs.seed.value, index),
            )
            runs[f'run_{index:03d}'] = {
                'structure': key,
                'composition': composition_of(self.inputs.structures[key]),
                'temperature': temperature,
                'pressure_gpa': pressure if schedule.ensemble == 'npt' else None,
                'parameters': parameters.model_dump(),
            }
        self.ctx.runs = runs
        self.ctx.pending = sorted(runs)
        self.ctx.calcs = {}
        self.report(
            f'{len(runs)} {schedule.ensemble.upper()} runs of {schedule.steps} steps: '
            f'{len(self.inputs.structures)} structures x T {schedule.temperatures} K'
            + (f' x P {pressures} GPa' if schedule.ensemble == 'npt' else '')
        )

    def has_pending(self):
        """Whether runs remain to be submitted."""
        return bool(self.ctx.pending)

    def submit_batch(self):
        """Submit up to ``max_concurrent`` runs."""
        batch = self.ctx.pending[: self.inputs.max_concurrent.value]
        self.ctx.pending = self.ctx.pending[len(batch) :]
        futures = {}
        for label in batch:
            run = self.ctx.runs[label]
            builder = LammpsMdWorkChain.get_builder()
            builder._update(self.exposed_inputs(LammpsMdWorkChain))
            builder.structure = self.inputs.structures[run['structure']]
            builder.parameters = orm.Dict(run['parameters'])
            futures[label] = submit_once(self, builder, label)
        self.report(f'submitted {", ".join(f"{label}<{node.pk}>" for label, node in futures.items())}')
        return ToContext(**{f'calc_{label}': node for label, node in futures.items()})

    def inspect_batch(self):
        """Record each finished run: halted or completed, or failed with its exit message."""
        for label in self.ctx.runs:
            node = self.ctx.get(f'calc_{label}')
            if node is None or label in self.ctx.calcs:
                continue
            self.ctx.calcs[label] = node.pk
            if node.is_finished_ok:
                report = node.outputs.report
                how = 'completed'
                if report['halted']:
                    how = f'halted ({report["halt_reason"]}) at step {report["halt_step"]}'
                self.report(
                    f'{label}: {how}; max gamma {report["max_gamma"]}, '
                    f'{report["fraction_above_lower"]:.2f} of samples above the lower threshold'
                )
            else:
                self.report(f'{label} failed: {node.exit_status} {node.exit_message}')

    def _finished(self):
        ok, failed = {}, {}
        for label, pk in self.ctx.calcs.items():
            node = orm.load_node(pk)
            if node.is_finished_ok:
                ok[label] = node
            else:
                failed[label] = f'exit {node.exit_status}: {node.exit_message or node.process_state.value}'
        return ok, failed

    def check_runs(self):
        """Fail when too few runs succeeded."""
        ok, failed = self._finished()
        total = len(self.ctx.runs)
        if len(ok) < self.inputs.min_success_fraction.value * total or not ok:
            first = next(iter(failed.values()), 'none')
            return self.exit_codes.ERROR_TOO_MANY_RUNS_FAILED.format(failed=len(failed), total=total, first=first)
        return None

    def run_selection(self):
        """Submit the selection of the structures to label from all candidate frames (a job, not in the daemon)."""
        ok, _ = self._finished()
        settings = dict(self.inputs.selection.get_dict()) if 'selection' in self.inputs else {}
        parameters = {
            **{key: SELECTION_DEFAULTS[key] for key in SELECTION_SETTINGS},
            **settings,
            'max_selected': self.inputs.max_selected.value,
            'gamma_lower': self.inputs.gamma_lower.value,
            'gamma_upper': self.inputs.gamma_upper.value,
            'seed': self.inputs.seed.value,
        }
        builder = PythonTaskCalculation.get_builder()
        builder.code = self.inputs.python_code
        builder.task = orm.Str(task_path(select_structures))
        builder.parameters = orm.Dict(parameters)
        builder.potential = self.inputs.potential
        builder.trajectories = {
            label: node.outputs.candidates for label, node in ok.items() if 'candidates' in node.outputs
        }
        if 'python_options' in self.inputs:
            builder.metadata.options = self.inputs.python_options.get_dict()
        node = submit_once(self, builder, 'select_structures')
        self.report(
            f'selecting from the candidate frames of {len(builder.trajectories)} runs: {node.process_label}<{node.pk}>'
        )
        return ToContext(selection=node)

    def inspect_selection(self):
        """Output the selected structures and the report."""
        ok, failed = self._finished()
        selection = self.ctx.selection
        if not selection.is_finished_ok:
            message = f'{selection.process_label}<{selection.pk}> exit {selection.exit_status}: '
            return self.exit_codes.ERROR_SELECTION_FAILED.format(
                message=message + (selection.exit_message or str(selection.process_state.value))
            )
        selection_report = selection.outputs.result
        outputs = dict(selection.outputs.structures) if 'structures' in selection.outputs else {}
        runs = {
            label: {key: value for key, value in run.items() if key != 'parameters'}
            for label, run in self.ctx.runs.items()
        }
        report = generate_exploration_report(
            selection_report=selection_report,
            runs=orm.Dict(runs),
            failures=orm.Dict(failed),
            **{label: node.outputs.report for label, node in ok.items()},
            metadata={'call_link_label': 'generate_exploration_report'},
        )
        if outputs:
            self.out('structures', outputs)
        self.out('report', report)
        self.report(
            f'selected {len(outputs)} of {selection_report["counts"]["frames"]} candidate frames; '
            f'max gamma {report["max_gamma"]}, high-gamma fraction {report["high_gamma_fraction"]:.3f}'
        )
