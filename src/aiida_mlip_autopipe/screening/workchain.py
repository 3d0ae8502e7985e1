"""``SurrogateScreeningWorkChain``: a pretrained universal potential decides which candidates go to DFT."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain

from ..common.engine import submit_once
from ..data import TrainingSet
from .calculations import SurrogateCalculation
from .functions import select_candidates

SURROGATE_PLUGIN = 'mlip_autopipe.surrogate'


def validate_inputs(inputs, _):
    """Refuse inputs the screening cannot use, before anything runs; name the field and what is allowed."""
    structures = inputs.get('structures', {})
    if not structures:
        return '`structures`: give at least one candidate structure'
    for key, structure in structures.items():
        if not all(structure.pbc):
            return f'`structures.{key}`: the surrogate needs a structure periodic in all three directions'
    plugin = inputs['code'].default_calc_job_plugin
    if plugin != SURROGATE_PLUGIN:
        return f'`code`: code `{inputs["code"].full_label}` runs `{plugin}`, not `{SURROGATE_PLUGIN}`'
    for name in ('max_force', 'min_distance', 'energy_window', 'duplicate_tolerance'):
        if inputs[name].value < 0:
            return f'`{name}`: {inputs[name].value} is not allowed; give a value >= 0'
    if 'num_select' in inputs and inputs['num_select'].value < 1:
        return f'`num_select`: {inputs["num_select"].value} is not allowed; give 1 or more'
    if inputs['relax_steps'].value < 1:
        return f'`relax_steps`: {inputs["relax_steps"].value} is not allowed; give 1 or more'
    if inputs['relax_fmax'].value <= 0:
        return f'`relax_fmax`: {inputs["relax_fmax"].value} is not allowed; give a force (eV/A) > 0'
    return None


class SurrogateScreeningWorkChain(WorkChain):
    """Screen candidate structures with CHGNet before DFT and select a diverse subset.

    One ``SurrogateCalculation`` evaluates (and, with ``relax``, mildly relaxes) every candidate;
    ``select_candidates`` then drops those with atoms closer than ``min_distance`` or a surrogate
    force above ``max_force`` (both on the candidate as given), those more than ``energy_window``
    eV/atom above the lowest candidate of their composition, and duplicates in descriptor space,
    and picks ``num_select`` of the rest by farthest-point sampling (seeded). ``selected`` has the
    same keys as ``structures`` and can be passed as it is to ``DftLabellingWorkChain``.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='Candidates by link-label-safe key.'
        )
        spec.input('code', valid_type=orm.AbstractCode, help=f'A `{SURROGATE_PLUGIN}` code (the surrogate venv).')
        spec.input(
            'max_force',
            valid_type=orm.Float,
            default=lambda: orm.Float(20.0),
            help='Candidates whose largest surrogate force (eV/A) exceeds this are dropped.',
        )
        spec.input(
            'min_distance',
            valid_type=orm.Float,
            default=lambda: orm.Float(1.5),
            help='Candidates with two atoms closer than this (A) are dropped.',
        )
        spec.input(
            'energy_window',
            valid_type=orm.Float,
            default=lambda: orm.Float(1.0),
            help='Candidates more than this (eV/atom) above the lowest of their composition are dropped.',
        )
        spec.input(
            'duplicate_tolerance',
            valid_type=orm.Float,
            default=lambda: orm.Float(1e-3),
            help='Candidates of one composition whose descriptors are closer than this are duplicates.',
        )
        spec.input(
            'num_select',
            valid_type=orm.Int,
            required=False,
            help='How many candidates to select; every one that passes the filters when not given.',
        )
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of farthest-point sampling.')
        spec.input('relax', valid_type=orm.Bool, default=lambda: orm.Bool(False), help='Relax mildly before selecting.')
        spec.input('relax_steps', valid_type=orm.Int, default=lambda: orm.Int(20), help='FIRE steps at most.')
        spec.input('relax_fmax', valid_type=orm.Float, default=lambda: orm.Float(0.1), help='FIRE force target eV/A.')
        spec.input('relax_cell', valid_type=orm.Bool, default=lambda: orm.Bool(False), help='Relax the cell too.')
        spec.input('model_file', valid_type=orm.SinglefileData, required=False, help='A CHGNet checkpoint of yours.')
        spec.input('options', valid_type=orm.Dict, required=False, help='`metadata.options` of the surrogate job.')
        spec.inputs.validator = validate_inputs
        spec.outline(cls.run_surrogate, cls.inspect_surrogate, cls.select, cls.results)

        spec.output_namespace(
            'selected', valid_type=orm.StructureData, dynamic=True, help='Selected structures, same keys as the input.'
        )
        spec.output('rejected', valid_type=orm.Dict, help='Candidate key -> why it was not selected.')
        spec.output('selection', valid_type=orm.Dict, help='Selected keys in pick order, metrics, thresholds.')
        spec.output(
            'surrogate_labels',
            valid_type=TrainingSet,
            help='Surrogate labels of every evaluated candidate (relaxed when relaxing), by `config_type` key.',
        )
        spec.output('descriptors', valid_type=orm.ArrayData, help='Descriptor per candidate key.')
        spec.exit_code(400, 'ERROR_SURROGATE_FAILED', message='the surrogate calculation failed: {message}')
        spec.exit_code(401, 'ERROR_NOTHING_SELECTED', message='every one of the {total} candidates was rejected')

    def run_surrogate(self):
        """Evaluate every candidate with the surrogate in one job (the model loads once)."""
        parameters = {
            'relax': self.inputs.relax.value,
            'steps': self.inputs.relax_steps.value,
            'fmax': self.inputs.relax_fmax.value,
            'relax_cell': self.inputs.relax_cell.value,
        }
        builder = SurrogateCalculation.get_builder()
        builder.code = self.inputs.code
        builder.structures = dict(self.inputs.structures)
        builder.parameters = orm.Dict(parameters)
        if 'model_file' in self.inputs:
            builder.model_file = self.inputs.model_file
        if 'options' in self.inputs:
            builder.metadata.options = self.inputs.options.get_dict()
        node = submit_once(self, builder, 'surrogate')
        relax = ', relaxing first' if parameters['relax'] else ''
        self.report(f'submitted {node.process_label}<{node.pk}> for {len(self.inputs.structures)} candidates{relax}')
        return ToContext(surrogate=node)

    def inspect_surrogate(self):
        """Stop when the surrogate job failed; report structures it could not evaluate."""
        node = self.ctx.surrogate
        if not node.is_finished_ok:
            message = f'{node.process_label}<{node.pk}> exit status {node.exit_status}: {node.exit_message}'
            self.report(message)
            return self.exit_codes.ERROR_SURROGATE_FAILED.format(message=message)
        summary = node.outputs.output_parameters
        per_structure = summary['seconds_per_structure']
        self.report(
            f'surrogate {summary["model"]} {summary["model_version"]} evaluated {summary["evaluated"]} candidates '
            f'({per_structure:.2f} s each, model load {summary["load_seconds"]:.1f} s)'
        )
        for key, message in sorted(summary['failed'].items()):
            self.report(f'surrogate failed on `{key}`: {message}')
        return None

    def select(self):
        """Filter and select with the ``select_candidates`` calcfunction."""
        outputs = self.ctx.surrogate.outputs
        inputs = {
            'labels': outputs.labels,
            'descriptors': outputs.descriptors,
            'surrogate_parameters': outputs.output_parameters,
            'max_force': self.inputs.max_force,
            'min_distance': self.inputs.min_distance,
            'energy_window': self.inputs.energy_window,
            'duplicate_tolerance': self.inputs.duplicate_tolerance,
            'seed': self.inputs.seed,
            'metadata': {'call_link_label': 'select_candidates'},
        }
        if 'num_select' in self.inputs:
            inputs['num_select'] = self.inputs.num_select
        if 'relaxed_labels' in outputs:
            inputs['relaxed_labels'] = outputs.relaxed_labels
        self.ctx.selection = select_candidates(**inputs)

    def results(self):
        """Output the selected structures (relaxed ones when relaxing), the reasons and the labels."""
        outputs = self.ctx.surrogate.outputs
        selection, rejected = self.ctx.selection['selection'], self.ctx.selection['rejected']
        relaxed = outputs.relaxed_structures if 'relaxed_structures' in outputs else {}
        for key in selection['selected']:
            self.out(f'selected.{key}', relaxed[key] if key in relaxed else self.inputs.structures[key])
        self.out('rejected', rejected)
        self.out('selection', selection)
        self.out('surrogate_labels', outputs.relaxed_labels if 'relaxed_labels' in outputs else outputs.labels)
        self.out('descriptors', outputs.descriptors)
        unselected = 0
        for key, reason in rejected.items():
            if reason.startswith('not selected'):
                unselected += 1
            else:
                self.report(f'dropped `{key}`: {reason}')
        if unselected:
            self.report(f'{unselected} distinct candidates passed the filters but were not picked (see `rejected`)')
        total = len(self.inputs.structures)
        self.report(f'selected {len(selection["selected"])} of {total} candidates: {", ".join(selection["selected"])}')
        if not selection['selected']:
            return self.exit_codes.ERROR_NOTHING_SELECTED.format(total=total)
        return None
