"""``StructureGenerationWorkChain``: a generation spec in, candidate structures (and a Group) out."""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain

from .functions import (
    INFO_LABEL,
    generate_bulk_structures,
    generate_defect_structures,
    generate_distorted_structures,
    generate_sqs_structure,
    generate_surface_structures,
    select_unique_structures,
)
from .plan import sqs_tasks
from .spec import GenerationSpec, validate_spec

#: Prefix of the default group label; the work chain's uuid completes it.
GROUP_PREFIX = 'mlip_autopipe/generation/'


def validate_inputs(inputs, _):
    """Refuse a spec that is not a valid :class:`GenerationSpec`, naming the field and what is allowed."""
    try:
        validate_spec(inputs['spec'].get_dict())
    except ValueError as exception:
        return f'`spec`: {exception}'
    return None


class StructureGenerationWorkChain(WorkChain):
    """Generate candidate structures: SQS, ordered cells, distortions, point defects and surfaces.

    Every structure is the output of a calcfunction (its provenance); the kept ones are returned in
    the ``structures`` namespace, keyed ``<method>_<index>`` as ``DftLabellingWorkChain`` takes them,
    added to a Group and given the extras ``generation_method`` and ``generation_parameters``.
    Structures with atoms too close are refused and symmetry-equivalent duplicates removed; both
    are counted in ``summary``.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'spec',
            valid_type=orm.Dict,
            help='A generation spec (see `GenerationSpec`): elements, compositions, lattices, sizes, counts, seed.',
        )
        spec.input(
            'group_label',
            valid_type=orm.Str,
            required=False,
            help=f'Label of the Group the structures are added to; default `{GROUP_PREFIX}<uuid of this work chain>`.',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(cls.setup, cls.make_bulk, cls.make_sqs, cls.make_derived, cls.select, cls.finalize)
        spec.output_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            help='The generated structures, duplicates removed.',
        )
        spec.output_namespace(
            'sqs_correlations',
            valid_type=orm.Dict,
            dynamic=True,
            help='Per SQS cell: objective, pair and triplet correlation mismatch to the random alloy.',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Kept keys, counts per method, removed duplicates (`duplicates`: key -> twin), refused structures.',
        )
        spec.exit_code(
            300, 'ERROR_NOTHING_GENERATED', message='no structure was kept: every candidate was refused or a duplicate'
        )

    def setup(self):
        """Validate the spec once and prepare the bookkeeping."""
        self.ctx.spec = validate_spec(self.inputs.spec.get_dict())
        self.ctx.candidates = {}
        self.ctx.info = {}
        self.ctx.correlations = {}

    def _collect(self, outputs: dict) -> int:
        info = outputs[INFO_LABEL].get_dict()
        made = {key: node for key, node in outputs.items() if key != INFO_LABEL}
        self.ctx.candidates.update(made)
        self.ctx.info.update(info)
        return len(made)

    def make_bulk(self):
        """End members and enumerated ordered cells."""
        made = self._collect(generate_bulk_structures(self.inputs.spec))
        self.report(f'{made} bulk cells: end members and enumerated ordered cells')

    def make_sqs(self):
        """One SQS per task; report its quality."""
        spec: GenerationSpec = self.ctx.spec
        for index, task in enumerate(sqs_tasks(spec)):
            key = f'sqs_{index:03d}'
            outputs = generate_sqs_structure(self.inputs.spec, orm.Dict(task))
            figures = outputs['correlations'].get_dict()
            self.ctx.candidates[key] = outputs['structure']
            self.ctx.info[key] = {
                'method': 'sqs',
                'parameters': {
                    name: figures[name]
                    for name in (
                        'lattice',
                        'composition',
                        'atoms',
                        'cutoffs',
                        'seed',
                        'steps',
                        'supercells',
                        'objective',
                        'max_pair_mismatch',
                        'max_triplet_mismatch',
                        'exact_pair_shells',
                    )
                },
            }
            self.ctx.correlations[key] = outputs['correlations']
            self.report(
                f'{key}: {task["atoms"]}-atom {task["lattice"]} SQS at {task["composition"]}, objective '
                f'{figures["objective"]:.3f}, {figures["exact_pair_shells"]} pair shells exact, max pair mismatch '
                f'{figures["max_pair_mismatch"]:.4f}, max triplet mismatch {figures["max_triplet_mismatch"]:.4f}'
            )

    def make_derived(self):
        """Distortions, point defects and surfaces of the bulk cells (end members, SQS, ordered)."""
        bulk = dict(self.ctx.candidates)
        for function, what in (
            (generate_distorted_structures, 'strained and rattled'),
            (generate_defect_structures, 'point-defect'),
            (generate_surface_structures, 'surface'),
        ):
            made = self._collect(function(spec=self.inputs.spec, **bulk))
            self.report(f'{made} {what} structures from {len(bulk)} bulk cells')

    def select(self):
        """Refuse too-close or too-large cells and remove symmetry-equivalent duplicates."""
        self.ctx.summary = select_unique_structures(spec=self.inputs.spec, **self.ctx.candidates)
        summary = self.ctx.summary.get_dict()
        duplicates = summary['duplicates']
        self.report(
            f'{len(duplicates)} symmetry-equivalent duplicates removed'
            + (
                f' ({", ".join(f"{key} = {twin}" for key, twin in sorted(duplicates.items())[:10])})'
                if duplicates
                else ''
            )
            + f', {len(summary["refused"])} refused, {len(summary["kept"])} of {len(self.ctx.candidates)} kept'
        )

    def finalize(self):
        """Output the kept structures with their extras and add them to the Group."""
        summary = self.ctx.summary.get_dict()
        if not summary['kept']:
            self.out('summary', self.ctx.summary)
            return self.exit_codes.ERROR_NOTHING_GENERATED
        label = self.inputs.group_label.value if 'group_label' in self.inputs else f'{GROUP_PREFIX}{self.node.uuid}'
        group, _ = orm.Group.collection.get_or_create(label=label)
        kept = {key: self.ctx.candidates[key] for key in summary['kept']}
        for key, node in kept.items():
            info = self.ctx.info[key]
            node.base.extras.set_many(
                {
                    'generation_method': info['method'],
                    'generation_parameters': info['parameters'],
                    'generation_key': key,
                    'generation_group': label,
                }
            )
        group.add_nodes(list(kept.values()))
        self.node.base.extras.set('group_label', label)
        self.out('structures', kept)
        self.out('sqs_correlations', self.ctx.correlations)
        self.out('summary', self.ctx.summary)
        counts = ', '.join(f'{method} {count}' for method, count in summary['counts'].items() if count)
        self.report(f'{len(kept)} structures in group `{label}`: {counts}')
        return None
