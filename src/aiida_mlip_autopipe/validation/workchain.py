"""``ValidationWorkChain``: does a potential reproduce the physics of its own labeller?

The potential's properties are computed in ASE (pyace); the labeller (EMT or pw.x, through the
labelling work chains loaded by entry point, so this stage imports no other) labels the same
prototypes: first the EOS series, then the strained and vacancy cells at its own equilibrium.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, append_, if_
from aiida.plugins import WorkflowFactory

from ..data import AcePotential, TrainingSet
from ..recovery import submit_once
from .functions import (
    collect_lammps_md_runs,
    compute_potential_properties,
    generate_centred_eos_structures,
    generate_md_structure,
    generate_property_structures,
    generate_validation_report,
    lammps_md_parameters,
    run_md_stability,
)
from .properties import ELASTIC_STRAINS, PROPERTIES, VACANCY_SUPERCELL, check_tolerances
from .report import labeller_eos

#: Labeller name -> labelling work chain entry point.
LABELLERS = {'emt': 'mlip_autopipe.labelling.ase', 'qe': 'mlip_autopipe.labelling.dft'}
#: The MD stability runs go at the highest temperature and at this factor above it.
MD_TEMPERATURE_FACTORS = (1.0, 1.2)


def validate_inputs(inputs, _):
    """Refuse inputs the validation cannot use, naming the field and what is allowed."""
    labeller = inputs['labeller'].value
    if labeller not in LABELLERS:
        return f'`labeller`: unknown labeller `{labeller}`; allowed: {", ".join(LABELLERS)}'
    if labeller == 'qe' and 'pw_code' not in inputs:
        return '`pw_code`: the `qe` labeller needs a `quantumespresso.pw` code'
    properties = inputs['properties'].get_list()
    unknown = sorted(set(properties) - set(PROPERTIES))
    if unknown or 'eos' not in properties:
        return f'`properties`: give `eos` plus any of {", ".join(PROPERTIES)}; got {", ".join(properties)}'
    potential = inputs['potential']
    elements = inputs['elements'].get_list() if 'elements' in inputs else potential.elements
    outside = sorted(set(elements) - set(potential.elements))
    if not elements or outside:
        return f'`elements`: {", ".join(outside) or "none given"}; the potential knows {", ".join(potential.elements)}'
    if 'md' in properties and 'temperature_max' not in inputs:
        return '`temperature_max`: needed for the MD stability runs (or leave `md` out of `properties`)'
    if 'tolerances' in inputs:
        try:
            check_tolerances(inputs['tolerances'].get_dict())
        except ValueError as exception:
            return f'`tolerances`: {exception}'
    if inputs['vacancy_supercell'].value < 1 or inputs['md_steps'].value < 1:
        return '`vacancy_supercell` and `md_steps` must be at least 1'
    return None


class ValidationWorkChain(WorkChain):
    """Compare a potential's EOS, cubic elastic constants and vacancy energies with its labeller's, and run
    MD stability checks; output the report either way, exit 410 naming what fails its tolerance."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('potential', valid_type=AcePotential, help='The potential to validate.')
        spec.input('elements', valid_type=orm.List, required=False, help="Elements (default: the potential's).")
        spec.input(
            'labeller', valid_type=orm.Str, default=lambda: orm.Str('qe'), help=f'One of {", ".join(LABELLERS)}.'
        )
        spec.input('pw_code', valid_type=orm.AbstractCode, required=False, help='pw.x code (labeller `qe`).')
        spec.input('pseudo_family', valid_type=orm.Str, required=False, help='Pseudo family (labeller `qe`).')
        spec.input('protocol', valid_type=orm.Str, required=False, help='DFT protocol (labeller `qe`).')
        spec.input('overrides', valid_type=orm.Dict, required=False, help='DFT protocol overrides (labeller `qe`).')
        spec.input('options', valid_type=orm.Dict, required=False, help='pw.x `metadata.options` (labeller `qe`).')
        spec.input('max_concurrent', valid_type=orm.Int, required=False, help='pw.x runs at a time (labeller `qe`).')
        spec.input(
            'properties',
            valid_type=orm.List,
            default=lambda: orm.List(list(PROPERTIES)),
            help=f'What to compute: `eos` plus any of {", ".join(PROPERTIES)}.',
        )
        spec.input(
            'lmp_code',
            valid_type=orm.AbstractCode,
            required=False,
            help='LAMMPS with ML-PACE for the MD runs (through aiida-lammps `lammps.raw`, `LammpsMdWorkChain`); '
            'without it they run in ASE (pyace).',
        )
        spec.input('temperature_max', valid_type=orm.Float, required=False, help='Highest campaign temperature (K).')
        spec.input('md_steps', valid_type=orm.Int, default=lambda: orm.Int(2000), help='MD steps per temperature.')
        spec.input('md_timestep', valid_type=orm.Float, default=lambda: orm.Float(2.0), help='MD time step (fs).')
        spec.input(
            'gamma_halt', valid_type=orm.Float, default=lambda: orm.Float(10.0), help='MD halts above this gamma.'
        )
        spec.input(
            'vacancy_supercell',
            valid_type=orm.Int,
            default=lambda: orm.Int(VACANCY_SUPERCELL),
            help='Repeats of the conventional cell per direction for the vacancy (2: 32 fcc sites).',
        )
        spec.input('tolerances', valid_type=orm.Dict, required=False, help='Overrides of the default tolerances.')
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of the MD velocities and noise.')
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.compute_potential,
            cls.run_eos_labelling,
            cls.inspect_eos_labelling,
            if_(cls.needs_property_labels)(cls.run_property_labelling, cls.inspect_property_labelling),
            if_(cls.should_run_md)(cls.run_md, cls.inspect_md),
            cls.results,
        )
        spec.output('report', valid_type=orm.Dict, help='Both sides, errors, pass/fail per property, MD runs.')
        spec.output('eos_labels', valid_type=TrainingSet, required=False, help="The labeller's EOS labels.")
        spec.output(
            'property_labels', valid_type=TrainingSet, required=False, help='Labels of strained and vacancy cells.'
        )
        spec.exit_code(301, 'ERROR_LABELLER_INPUTS', message='the labeller refused its inputs: {message}')
        spec.exit_code(302, 'ERROR_LABELLING_FAILED', message='the labeller gave no {stage} labels: {message}')
        spec.exit_code(
            303, 'ERROR_POTENTIAL_PROPERTIES', message="the potential's properties could not be computed: {message}"
        )
        spec.exit_code(410, 'ERROR_VALIDATION_FAILED', message='validation failed: {properties}')

    def setup(self):
        """Collect the settings every calcfunction reads into one Dict."""
        properties = self.inputs.properties.get_list()
        temperature = self.inputs.temperature_max.value if 'temperature_max' in self.inputs else None
        settings = {
            'elements': self.inputs.elements.get_list()
            if 'elements' in self.inputs
            else self.inputs.potential.elements,
            'labeller': self.inputs.labeller.value,
            'properties': [name for name in PROPERTIES if name in properties],
            'strains': list(ELASTIC_STRAINS),
            'supercell': self.inputs.vacancy_supercell.value,
            'temperatures': [temperature * factor for factor in MD_TEMPERATURE_FACTORS] if temperature else [],
            'md_steps': self.inputs.md_steps.value,
            'md_timestep_fs': self.inputs.md_timestep.value,
            'gamma_halt': self.inputs.gamma_halt.value,
            'seed': self.inputs.seed.value,
            'tolerances': check_tolerances(self.inputs.tolerances.get_dict() if 'tolerances' in self.inputs else {}),
        }
        self.ctx.parameters = orm.Dict(settings)
        self.ctx.properties = settings['properties']
        self.report(
            f'validating {self.inputs.potential.__class__.__name__}<{self.inputs.potential.pk}> for '
            f'{", ".join(settings["elements"])} against `{settings["labeller"]}`: {", ".join(settings["properties"])}'
        )

    def compute_potential(self):
        """Compute the potential's properties in ASE; a potential without them (no EOS minimum) fails here."""
        try:
            self.ctx.potential_properties = compute_potential_properties(
                self.inputs.potential, self.ctx.parameters, metadata={'call_link_label': 'potential_properties'}
            )
        except (RuntimeError, ValueError) as exception:  # the calcfunction node keeps the traceback
            return self.exit_codes.ERROR_POTENTIAL_PROPERTIES.format(message=str(exception))
        for name, row in self.ctx.potential_properties.get_dict().items():
            self.report(
                f'potential {name}: a {row["eos"]["lattice_a"]:.4f} A, B {row["eos"]["bulk_modulus_gpa"]:.1f} GPa'
            )

    def _labelling_builder(self, structures: dict):
        labeller = self.inputs.labeller.value
        builder = WorkflowFactory(LABELLERS[labeller]).get_builder()
        if labeller == 'emt':
            builder.calculator = orm.Str('emt')
        else:
            builder.code = self.inputs.pw_code
            for name in ('pseudo_family', 'protocol', 'overrides', 'options', 'max_concurrent'):
                if name in self.inputs:
                    setattr(builder, name, self.inputs[name])
        builder.structures = dict(structures)
        return builder

    def _submit_labelling(self, structures: dict, stage: str):
        try:
            node = submit_once(self, self._labelling_builder(structures), f'{stage}_labelling')
        except ValueError as exception:
            return self.exit_codes.ERROR_LABELLER_INPUTS.format(message=str(exception))
        self.report(f'labelling {len(structures)} {stage} structures with {node.process_label}<{node.pk}>')
        return ToContext(**{f'{stage}_labelling': node})

    def run_eos_labelling(self):
        """Label the EOS series of every cell, centred on the potential's equilibrium."""
        structures = generate_centred_eos_structures(
            self.ctx.potential_properties, self.ctx.parameters, metadata={'call_link_label': 'eos_structures'}
        )
        return self._submit_labelling(structures, 'eos')

    def _labels(self, stage: str):
        node = self.ctx[f'{stage}_labelling']
        if 'training_set' not in node.outputs:
            return None, self.exit_codes.ERROR_LABELLING_FAILED.format(
                stage=stage, message=node.exit_message or str(node.process_state.value)
            )
        self.out(f'{stage}_labels', node.outputs.training_set)
        return node.outputs.training_set, None

    def inspect_eos_labelling(self):
        """Keep the EOS labels."""
        self.ctx.eos_labels, exit_code = self._labels('eos')
        return exit_code

    def needs_property_labels(self):
        """Elastic constants or vacancies were asked for."""
        return bool({'elastic', 'vacancy'} & set(self.ctx.properties))

    def run_property_labelling(self):
        """Label the strained and vacancy cells at the labeller's equilibrium."""
        rows, missing = labeller_eos(self.ctx.parameters['elements'], self.ctx.eos_labels.to_atoms())
        for name, reasons in missing.items():
            self.report(f'labeller EOS of {name}: {reasons["eos"]}')
        if not rows:
            self.report('no labeller EOS could be fitted: no elastic or vacancy structures')
            return None
        structures = generate_property_structures(
            self.inputs.potential,
            self.ctx.eos_labels,
            self.ctx.parameters,
            metadata={'call_link_label': 'property_structures'},
        )
        return self._submit_labelling(structures, 'property')

    def inspect_property_labelling(self):
        """Keep the property labels."""
        if 'property_labelling' not in self.ctx:
            return None
        self.ctx.property_labels, exit_code = self._labels('property')
        return exit_code

    def should_run_md(self):
        """The MD stability runs were asked for."""
        return 'md' in self.ctx.properties

    def run_md(self):
        """Run the MD stability runs of the potential: LAMMPS jobs with ``lmp_code``, else pyace in ASE."""
        if 'lmp_code' not in self.inputs:
            self.ctx.md = run_md_stability(
                self.inputs.potential,
                self.ctx.potential_properties,
                self.ctx.parameters,
                metadata={'call_link_label': 'md_stability'},
            )
            return None
        self.ctx.md_structure = generate_md_structure(
            self.ctx.potential_properties, self.ctx.parameters, metadata={'call_link_label': 'md_structure'}
        )
        md_workchain = WorkflowFactory('mlip_autopipe.lammps.md')
        settings = self.ctx.parameters.get_dict()
        for index, temperature in enumerate(settings['temperatures']):
            builder = md_workchain.get_builder()
            builder.code = self.inputs.lmp_code
            builder.potential = self.inputs.potential
            builder.structure = self.ctx.md_structure
            builder.parameters = orm.Dict(lammps_md_parameters(settings, temperature, index))
            node = submit_once(self, builder, f'md_{index}')
            self.report(f'md {temperature:g} K with {node.process_label}<{node.pk}>')
            self.to_context(md_runs=append_(node))
        return None

    def inspect_md(self):
        """Collect the LAMMPS runs (a failed job counts as halted) and report each run."""
        if 'md_runs' in self.ctx:
            reports = {}
            for index, node in enumerate(self.ctx.md_runs):
                if node.is_finished_ok and 'report' in node.outputs:
                    reports[f'run_{index}'] = node.outputs.report
                else:
                    message = f'{node.process_label} exit {node.exit_status}: {node.exit_message or node.process_state}'
                    reports[f'run_{index}'] = orm.Dict({'failed': message})
            self.ctx.md = collect_lammps_md_runs(
                self.ctx.parameters, self.ctx.md_structure, **reports, metadata={'call_link_label': 'md_runs'}
            )
        for run in self.ctx.md['runs']:
            gamma = run['max_gamma']
            self.report(
                f'md {run["temperature"]:g} K on {run["atoms"]} atoms of {run["cell"]} ({run["engine"]}): '
                f'{run["time_ps"]:g} ps, max gamma {"-" if gamma is None else format(gamma, ".2f")}, '
                f'{"halted: " + run["reason"] if run["halted"] else "stable"}'
            )

    def results(self):
        """Output the report; exit 410 naming the properties outside their tolerance."""
        labels = {'eos_labels': self.ctx.eos_labels}
        if self.ctx.get('property_labels') is not None:
            labels['property_labels'] = self.ctx.property_labels
        if 'md' in self.ctx:
            labels['md'] = self.ctx.md
        report = generate_validation_report(
            self.ctx.potential_properties, self.ctx.parameters, **labels, metadata={'call_link_label': 'report'}
        )
        self.out('report', report)
        failed = report['failed']
        self.report(f'validation report {report.__class__.__name__}<{report.pk}>: {len(failed)} failing')
        if failed:
            return self.exit_codes.ERROR_VALIDATION_FAILED.format(properties='; '.join(failed))
        return None


def get_validation_builder(
    potential,
    labeller: str = 'qe',
    elements=None,
    pw_code=None,
    pseudo_family: str | None = None,
    protocol: str | None = None,
    overrides: dict | None = None,
    options: dict | None = None,
    max_concurrent: int | None = None,
    lmp_code=None,
    properties=None,
    temperature_max: float | None = None,
    md_steps: int | None = None,
    gamma_halt: float | None = None,
    vacancy_supercell: int | None = None,
    tolerances: dict | None = None,
    seed: int | None = None,
):
    """Return a ``ValidationWorkChain`` builder from plain values; ``None`` keeps the port's default.

    ``properties`` defaults to all of :data:`PROPERTIES` when ``temperature_max`` is given, else to all
    but ``md``.
    """
    builder = ValidationWorkChain.get_builder()
    builder.potential = potential
    builder.labeller = orm.Str(labeller)
    if properties is None:
        properties = [name for name in PROPERTIES if name != 'md' or temperature_max is not None]
    builder.properties = orm.List(list(properties))
    plain = {
        'elements': (orm.List, list(elements) if elements else None),
        'pseudo_family': (orm.Str, pseudo_family),
        'protocol': (orm.Str, protocol),
        'overrides': (orm.Dict, overrides),
        'options': (orm.Dict, options),
        'max_concurrent': (orm.Int, max_concurrent),
        'temperature_max': (orm.Float, temperature_max),
        'md_steps': (orm.Int, md_steps),
        'gamma_halt': (orm.Float, gamma_halt),
        'vacancy_supercell': (orm.Int, vacancy_supercell),
        'tolerances': (orm.Dict, tolerances),
        'seed': (orm.Int, seed),
    }
    for name, (kind, value) in plain.items():
        if value is not None:
            builder[name] = kind(value)
    if pw_code is not None:
        builder.pw_code = pw_code
    if lmp_code is not None:
        builder.lmp_code = lmp_code
    return builder
