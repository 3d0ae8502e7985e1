"""``ValidationWorkChain``: does a potential reproduce the physics of its own labeller?

The validation cells (end members, the ordered compound, a special quasi-random cell per
composition) are made first. The potential's properties are computed in ASE (pyace); the labeller
(EMT or pw.x, through the labelling work chains loaded by entry point, so this stage imports no
other) labels the same prototypes: first the EOS series, then the strained, vacancy and disordered
cells at its own equilibrium, relaxing the vacancy defects and disordered cells itself, and the
displaced supercells of the phonons.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, append_, if_
from aiida.plugins import WorkflowFactory

from ..common.engine import expose_top_level_inputs, submit_once
from ..common.python_task import PythonTaskCalculation, python_options_error
from ..common.task_io import task_path
from ..data import AcePotential, TrainingSet
from .cells import SQS_REPEAT, cell_names, check_compositions, default_compositions
from .functions import (
    collect_lammps_md_runs,
    generate_centred_eos_structures,
    generate_md_structures,
    generate_property_structures,
    generate_validation_cells,
    generate_validation_report,
    report_unusable_potential,
)
from .phonons import PHONON_SUPERCELL
from .properties import ELASTIC_STRAINS, PROPERTIES, VACANCY_SUPERCELL, check_tolerances
from .report import labeller_eos, relax_keys
from .stability import MD_ATOMS_ASE, MD_ATOMS_LAMMPS, MD_TEMPERATURE_FACTORS, lammps_md_parameters, md_plan
from .tasks import md_stability_runs, potential_properties

#: Labeller name -> labelling work chain entry point.
LABELLERS = {'emt': 'mlip_autopipe.labelling.ase', 'qe': 'mlip_autopipe.labelling.dft'}
#: Inputs of the `qe` labeller (``DftLabellingWorkChain``) exposed here under their own names and passed to it.
DFT_INPUTS = ('pseudo_family', 'protocol', 'overrides', 'options', 'max_concurrent')
#: Defaults of the Monte Carlo swaps of the MD stability runs: steps between swap rounds, trials per round.
MD_SWAP_EVERY = 100
MD_SWAP_ATTEMPTS = 10
#: Properties of the `properties` port's default: all but the phonons, whose displaced supercells cost
#: tens of pw.x runs with the default `qe` labeller (``get_validation_builder`` adds them for `emt`).
DEFAULT_PROPERTIES = tuple(name for name in PROPERTIES if name != 'phonons')


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
    if 'compositions' in inputs:
        try:
            check_compositions(elements, inputs['compositions'].get_list())
        except ValueError as exception:
            return f'`compositions`: {exception}'
    if inputs['vacancy_supercell'].value < 1 or inputs['md_steps'].value < 1:
        return '`vacancy_supercell` and `md_steps` must be at least 1'
    if inputs['sqs_supercell'].value < 1:
        return f'`sqs_supercell`: {inputs["sqs_supercell"].value} is not allowed; give 1 or more'
    if inputs['phonon_supercell'].value < 1:
        return f'`phonon_supercell`: {inputs["phonon_supercell"].value} is not allowed; give 1 or more'
    if 'md_atoms' in inputs and inputs['md_atoms'].value < 1:
        return f'`md_atoms`: {inputs["md_atoms"].value} is not allowed; give 1 or more'
    if inputs['md_swap_every'].value < 0 or inputs['md_swap_attempts'].value < 0:
        return '`md_swap_every` and `md_swap_attempts` must be 0 (no swaps) or more'
    return python_options_error(inputs)


class ValidationWorkChain(WorkChain):
    """Compare a potential's EOS, cubic elastic constants, vacancy and formation energies and phonons with its
    labeller's, and run MD stability checks; output the report either way, exit 410 naming what fails its
    tolerance."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        # the `qe` labeller's own ports (its class loaded by entry point: this stage imports no other)
        expose_top_level_inputs(spec, WorkflowFactory(LABELLERS['qe']), DFT_INPUTS)
        for name in DFT_INPUTS:
            spec.inputs[name].help = f'{spec.inputs[name].help} Labeller `qe` only.'
        spec.input('potential', valid_type=AcePotential, help='The potential to validate.')
        spec.input(
            'python_code',
            valid_type=orm.AbstractCode,
            help="The plugin's Python (`mlip-autopipe setup` registers `python`): the potential's properties and "
            'the MD in ASE run as `PythonTaskCalculation` jobs with it, not in the daemon worker.',
        )
        spec.input(
            'python_options',
            valid_type=orm.Dict,
            required=False,
            help='`metadata.options` of those jobs (default: one process, no MPI).',
        )
        spec.input('elements', valid_type=orm.List, required=False, help="Elements (default: the potential's).")
        spec.input(
            'labeller', valid_type=orm.Str, default=lambda: orm.Str('qe'), help=f'One of {", ".join(LABELLERS)}.'
        )
        spec.input(
            'pw_code', valid_type=orm.AbstractCode, required=False, help='A `quantumespresso.pw` code (labeller `qe`).'
        )
        spec.input(
            'properties',
            valid_type=orm.List,
            default=lambda: orm.List(list(DEFAULT_PROPERTIES)),
            help=f'What to compute: `eos` plus any of {", ".join(PROPERTIES)} (default all but `phonons`).',
        )
        spec.input(
            'lmp_code',
            valid_type=orm.AbstractCode,
            required=False,
            help='LAMMPS with ML-PACE for the MD runs (through aiida-lammps `lammps.raw`, `LammpsMdWorkChain`); '
            'without it they run in ASE (pyace).',
        )
        spec.input(
            'compositions',
            valid_type=orm.List,
            required=False,
            help='Compositions ({element: fraction}) of the disordered cells (default: equiatomic for a binary).',
        )
        spec.input('temperature_max', valid_type=orm.Float, required=False, help='Highest campaign temperature (K).')
        spec.input('md_steps', valid_type=orm.Int, default=lambda: orm.Int(2000), help='MD steps per temperature.')
        spec.input('md_timestep', valid_type=orm.Float, default=lambda: orm.Float(2.0), help='MD time step (fs).')
        spec.input(
            'gamma_halt', valid_type=orm.Float, default=lambda: orm.Float(10.0), help='MD halts above this gamma.'
        )
        spec.input(
            'md_atoms',
            valid_type=orm.Int,
            required=False,
            help=f'Smallest MD cell (default {MD_ATOMS_LAMMPS} atoms with `lmp_code`, {MD_ATOMS_ASE} in ASE).',
        )
        spec.input(
            'md_swap_every',
            valid_type=orm.Int,
            default=lambda: orm.Int(MD_SWAP_EVERY),
            help='MD steps between Monte Carlo swap rounds in cells of two or more elements (0: no swaps).',
        )
        spec.input(
            'md_swap_attempts',
            valid_type=orm.Int,
            default=lambda: orm.Int(MD_SWAP_ATTEMPTS),
            help='Swap trials per round (0: no swaps).',
        )
        spec.input(
            'vacancy_supercell',
            valid_type=orm.Int,
            default=lambda: orm.Int(VACANCY_SUPERCELL),
            help='Repeats of the conventional cell per direction for the vacancy (2: 32 fcc sites).',
        )
        spec.input(
            'sqs_supercell',
            valid_type=orm.Int,
            default=lambda: orm.Int(SQS_REPEAT),
            help='Repeats of the conventional cell per direction for the disordered cells (2: 32 fcc sites; 1 '
            'makes them the smallest ordered cell of each composition, a demo size).',
        )
        spec.input(
            'phonon_supercell',
            valid_type=orm.Int,
            default=lambda: orm.Int(PHONON_SUPERCELL),
            help='Repeats of the conventional cell per direction for the phonons (2: 32 fcc or L1_2 atoms).',
        )
        spec.input('tolerances', valid_type=orm.Dict, required=False, help='Overrides of the default tolerances.')
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of the MD velocities and noise.')
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.generate_cells,
            cls.run_potential_properties,
            cls.inspect_potential_properties,
            cls.run_eos_labelling,
            cls.inspect_eos_labelling,
            if_(cls.needs_property_labels)(cls.run_property_labelling, cls.inspect_property_labelling),
            if_(cls.should_run_md)(cls.run_md, cls.inspect_md),
            cls.results,
        )
        spec.output('report', valid_type=orm.Dict, help='Both sides, errors, pass/fail per property, MD runs.')
        spec.output('eos_labels', valid_type=TrainingSet, required=False, help="The labeller's EOS labels.")
        spec.output(
            'property_labels',
            valid_type=TrainingSet,
            required=False,
            help='Labels of the strained, vacancy, disordered and displaced phonon cells (the relaxed ones at their '
            'relaxed positions).',
        )
        spec.exit_code(301, 'ERROR_LABELLER_INPUTS', message='the labeller refused its inputs: {message}')
        spec.exit_code(302, 'ERROR_LABELLING_FAILED', message='the labeller gave no {stage} labels: {message}')
        spec.exit_code(
            303, 'ERROR_POTENTIAL_PROPERTIES', message="the potential's properties could not be computed: {message}"
        )
        spec.exit_code(304, 'ERROR_PROPERTIES_JOB', message="the job of the potential's properties failed: {message}")
        spec.exit_code(410, 'ERROR_VALIDATION_FAILED', message='validation failed: {properties}')

    def setup(self):
        """Collect the settings every calcfunction reads into one Dict."""
        properties = self.inputs.properties.get_list()
        temperature = self.inputs.temperature_max.value if 'temperature_max' in self.inputs else None
        elements = self.inputs.elements.get_list() if 'elements' in self.inputs else self.inputs.potential.elements
        compositions = (
            check_compositions(elements, self.inputs.compositions.get_list())
            if 'compositions' in self.inputs
            else default_compositions(elements)
        )
        if 'formation' not in properties:
            compositions = []
        lammps = 'lmp_code' in self.inputs
        settings = {
            'elements': elements,
            'compositions': compositions,
            'cells': cell_names(elements, compositions, self.inputs.sqs_supercell.value),
            'sqs_supercell': self.inputs.sqs_supercell.value,
            'labeller': self.inputs.labeller.value,
            'properties': [name for name in PROPERTIES if name in properties],
            'strains': list(ELASTIC_STRAINS),
            'supercell': self.inputs.vacancy_supercell.value,
            'phonon_supercell': self.inputs.phonon_supercell.value,
            'temperatures': [temperature * factor for factor in MD_TEMPERATURE_FACTORS] if temperature else [],
            'md_steps': self.inputs.md_steps.value,
            'md_timestep_fs': self.inputs.md_timestep.value,
            'md_atoms': self.inputs.md_atoms.value
            if 'md_atoms' in self.inputs
            else (MD_ATOMS_LAMMPS if lammps else MD_ATOMS_ASE),
            'md_engine': 'lammps' if lammps else 'ase',
            'md_swap_every': self.inputs.md_swap_every.value,
            'md_swap_attempts': self.inputs.md_swap_attempts.value,
            'gamma_halt': self.inputs.gamma_halt.value,
            'seed': self.inputs.seed.value,
            'tolerances': check_tolerances(self.inputs.tolerances.get_dict() if 'tolerances' in self.inputs else {}),
        }
        self.ctx.parameters = orm.Dict(settings)
        self.ctx.properties = settings['properties']
        self.report(
            f'validating {self.inputs.potential.__class__.__name__}<{self.inputs.potential.pk}> for '
            f'{", ".join(settings["elements"])} against `{settings["labeller"]}`: {", ".join(settings["properties"])}; '
            f'cells {", ".join(settings["cells"])}'
        )

    def generate_cells(self):
        """Make the validation cells (the disordered ones by icet's annealing, seeded)."""
        self.ctx.cells = generate_validation_cells(self.ctx.parameters, metadata={'call_link_label': 'cells'})

    def _task_builder(self, function, structures: dict):
        """Return the ``PythonTaskCalculation`` builder of one of the validation's tasks (:mod:`.tasks`)."""
        builder = PythonTaskCalculation.get_builder()
        builder.code = self.inputs.python_code
        builder.task = orm.Str(task_path(function))
        builder.parameters = self.ctx.parameters
        builder.potential = self.inputs.potential
        builder.structures = dict(structures)
        if 'python_options' in self.inputs:
            builder.metadata.options = self.inputs.python_options.get_dict()
        return builder

    def run_potential_properties(self):
        """Compute the potential's properties in ASE, in a job on the computer (the daemon stays free)."""
        builder = self._task_builder(potential_properties, self.ctx.cells)
        node = submit_once(self, builder, 'potential_properties')
        self.report(f"computing the potential's properties: {node.process_label}<{node.pk}>")
        return ToContext(potential_job=node)

    def inspect_potential_properties(self):
        """Keep the potential's properties; a potential without them (no EOS minimum) fails here, with a report."""
        node = self.ctx.potential_job
        if not node.is_finished_ok:
            message = node.exit_message or f'{node.process_label}<{node.pk}> {node.process_state.value}'
            if node.exit_status == PythonTaskCalculation.exit_codes.ERROR_TASK_REFUSED.status:
                report = report_unusable_potential(
                    self.inputs.potential, orm.Str(message), metadata={'call_link_label': 'report'}
                )
                self.out('report', report)
                return self.exit_codes.ERROR_POTENTIAL_PROPERTIES.format(message=message)
            return self.exit_codes.ERROR_PROPERTIES_JOB.format(
                message=f'{node.process_label}<{node.pk}> exit {node.exit_status}: {message}'
            )
        self.ctx.potential_properties = node.outputs.result
        for name, row in self.ctx.potential_properties.get_dict().items():
            formation = (row.get('formation') or {}).get('formation_energy')
            phonons = row.get('phonons')
            self.report(
                f'potential {name}: a {row["eos"]["lattice_a"]:.4f} A, B {row["eos"]["bulk_modulus_gpa"]:.1f} GPa'
                + ('' if formation is None else f', formation {1000 * formation:+.1f} meV/atom')
                + ('' if phonons is None else f', highest phonon frequency {phonons["max_frequency"]:.3f} THz')
            )
        return None

    def _labelling_builder(self, structures: dict, relax=()):
        labeller = self.inputs.labeller.value
        process = WorkflowFactory(LABELLERS[labeller])
        builder = process.get_builder()
        if labeller == 'emt':
            builder.calculator = orm.Str('emt')
        else:
            builder.code = self.inputs.pw_code
            builder._update(self.exposed_inputs(process))
        builder.structures = dict(structures)
        if relax:
            builder.relax = orm.List(list(relax))
        return builder

    def _submit_labelling(self, structures: dict, stage: str, relax=()):
        try:
            node = submit_once(self, self._labelling_builder(structures, relax), f'{stage}_labelling')
        except ValueError as exception:
            return self.exit_codes.ERROR_LABELLER_INPUTS.format(message=str(exception))
        relaxed = f', {len(relax)} of them relaxed by the labeller' if relax else ''
        self.report(f'labelling {len(structures)} {stage} structures{relaxed} with {node.process_label}<{node.pk}>')
        return ToContext(**{f'{stage}_labelling': node})

    def run_eos_labelling(self):
        """Label the EOS series of every cell, centred on the potential's equilibrium."""
        structures = generate_centred_eos_structures(
            self.ctx.potential_properties,
            self.ctx.parameters,
            **self.ctx.cells,
            metadata={'call_link_label': 'eos_structures'},
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
        """Elastic constants, vacancies, formation energies or phonons were asked for."""
        return bool({'elastic', 'vacancy', 'formation', 'phonons'} & set(self.ctx.properties))

    def run_property_labelling(self):
        """Label the strained, vacancy, disordered and displaced phonon cells at the labeller's equilibrium; the
        labeller relaxes the vacancy defects and the disordered cells."""
        rows, missing = labeller_eos(self.ctx.parameters['cells'], self.ctx.eos_labels.to_atoms())
        for name, reasons in missing.items():
            self.report(f'labeller EOS of {name}: {reasons["eos"]}')
        if not rows:
            self.report('no labeller EOS could be fitted: no elastic, vacancy, formation or phonon structures')
            return None
        structures = generate_property_structures(
            self.ctx.eos_labels,
            self.ctx.parameters,
            **self.ctx.cells,
            metadata={'call_link_label': 'property_structures'},
        )
        if not structures:
            self.report('no elastic, vacancy, formation or phonon structures for the cells the labeller has an EOS of')
            return None
        return self._submit_labelling(structures, 'property', relax_keys(structures))

    def inspect_property_labelling(self):
        """Keep the property labels."""
        if 'property_labelling' not in self.ctx:
            return None
        self.ctx.property_labels, exit_code = self._labels('property')
        node = self.ctx.property_labelling
        if 'relaxations' in node.outputs:
            self.ctx.relaxations = node.outputs.relaxations
        return exit_code

    def should_run_md(self):
        """The MD stability runs were asked for."""
        return 'md' in self.ctx.properties

    def run_md(self):
        """Run the MD stability runs of the potential (:func:`~.stability.md_plan`) on the MD cells: LAMMPS jobs
        with ``lmp_code``, else one job of pyace in ASE (the ``md_stability_runs`` task)."""
        self.ctx.md_structures = generate_md_structures(
            self.ctx.potential_properties,
            self.ctx.parameters,
            **self.ctx.cells,
            metadata={'call_link_label': 'md_structures'},
        )
        if 'lmp_code' not in self.inputs:
            node = submit_once(self, self._task_builder(md_stability_runs, self.ctx.md_structures), 'md_stability')
            self.report(f'md in ASE: {node.process_label}<{node.pk}>')
            return ToContext(md_job=node)
        md_workchain = WorkflowFactory('mlip_autopipe.lammps.md')
        settings = self.ctx.parameters.get_dict()
        for run in md_plan(settings):
            builder = md_workchain.get_builder()
            builder.code = self.inputs.lmp_code
            builder.potential = self.inputs.potential
            builder.structure = self.ctx.md_structures[run['cell']]
            builder.parameters = orm.Dict(lammps_md_parameters(settings, run))
            node = submit_once(self, builder, f'md_{run["index"]}')
            swaps = 'swaps' if run['swaps'] else 'no swaps'
            self.report(
                f'md {run["cell"]} {run["temperature"]:g} K ({len(builder.structure.sites)} atoms, {swaps}) with '
                f'{node.process_label}<{node.pk}>'
            )
            self.to_context(md_runs=append_(node))
        return None

    def inspect_md(self):
        """Collect the runs (a failed job counts as halted) and report each run."""
        cells = {f'cell_{name}': structure for name, structure in self.ctx.md_structures.items()}
        job = self.ctx.get('md_job')
        if job is not None and job.is_finished_ok:
            self.ctx.md = job.outputs.result
        elif job is not None:  # every run of the failed job counts as halted, with the job's message
            message = f'{job.process_label}<{job.pk}> exit {job.exit_status}: {job.exit_message or job.process_state}'
            self.report(f'md in ASE failed: {message}')
            plan = md_plan(self.ctx.parameters.get_dict())
            reports = {f'run_{run["index"]}': orm.Dict({'failed': message}) for run in plan}
            self.ctx.md = collect_lammps_md_runs(
                self.ctx.parameters, **reports, **cells, metadata={'call_link_label': 'md_runs'}
            )
        if 'md_runs' in self.ctx:
            reports = {}
            for index, node in enumerate(self.ctx.md_runs):
                if node.is_finished_ok and 'report' in node.outputs:
                    reports[f'run_{index}'] = node.outputs.report
                else:
                    message = f'{node.process_label} exit {node.exit_status}: {node.exit_message or node.process_state}'
                    reports[f'run_{index}'] = orm.Dict({'failed': message})
            self.ctx.md = collect_lammps_md_runs(
                self.ctx.parameters, **reports, **cells, metadata={'call_link_label': 'md_runs'}
            )
        for run in self.ctx.md['runs']:
            gamma = run['max_gamma']
            self.report(
                f'md {run["cell"]} {run["temperature"]:g} K on {run["atoms"]} atoms ({run["engine"]}'
                f'{", swaps" if run.get("swaps") else ""}): {run["time_ps"]:g} ps, max gamma '
                f'{"-" if gamma is None else format(gamma, ".2f")}, '
                f'{"halted: " + run["reason"] if run["halted"] else "stable"}'
            )

    def results(self):
        """Output the report; exit 410 naming the properties outside their tolerance."""
        labels = {'eos_labels': self.ctx.eos_labels}
        if self.ctx.get('property_labels') is not None:
            labels['property_labels'] = self.ctx.property_labels
        if self.ctx.get('relaxations') is not None:
            labels['relaxations'] = self.ctx.relaxations
        if 'md' in self.ctx:
            labels['md'] = self.ctx.md
        report = generate_validation_report(
            self.ctx.potential_properties,
            self.ctx.parameters,
            **labels,
            **self.ctx.cells,
            metadata={'call_link_label': 'report'},
        )
        self.out('report', report)
        failed = report['failed']
        self.report(f'validation report {report.__class__.__name__}<{report.pk}>: {len(failed)} failing')
        if failed:
            return self.exit_codes.ERROR_VALIDATION_FAILED.format(properties='; '.join(failed))
        return None


def get_validation_builder(
    potential,
    python_code,
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
    sqs_supercell: int | None = None,
    phonon_supercell: int | None = None,
    tolerances: dict | None = None,
    seed: int | None = None,
    compositions: list[dict[str, float]] | None = None,
    md_atoms: int | None = None,
    md_swap_every: int | None = None,
    md_swap_attempts: int | None = None,
    python_options: dict | None = None,
):
    """Return a ``ValidationWorkChain`` builder from plain values; ``None`` keeps the port's default.

    ``python_code`` is the plugin's Python (``mlip-autopipe setup`` registers it as ``python``): the
    potential's properties and the MD in ASE run as jobs with it.

    ``compositions`` (``[{element: fraction}]``, the campaign's composition points) chooses the
    disordered cells of the formation energies and MD runs; end members among them are skipped.

    ``properties`` defaults to all of :data:`PROPERTIES` but ``md`` without ``temperature_max`` and
    ``phonons`` with the ``qe`` labeller (tens of pw.x runs on 32-atom supercells; ask for them).
    """
    builder = ValidationWorkChain.get_builder()
    builder.potential = potential
    builder.python_code = python_code
    builder.labeller = orm.Str(labeller)
    if properties is None:
        skipped = {'md'} if temperature_max is None else set()
        skipped |= {'phonons'} if labeller == 'qe' else set()
        properties = [name for name in PROPERTIES if name not in skipped]
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
        'sqs_supercell': (orm.Int, sqs_supercell),
        'phonon_supercell': (orm.Int, phonon_supercell),
        'tolerances': (orm.Dict, tolerances),
        'seed': (orm.Int, seed),
        'compositions': (orm.List, [dict(item) for item in compositions] if compositions is not None else None),
        'md_atoms': (orm.Int, md_atoms),
        'md_swap_every': (orm.Int, md_swap_every),
        'md_swap_attempts': (orm.Int, md_swap_attempts),
        'python_options': (orm.Dict, python_options),
    }
    for name, (kind, value) in plain.items():
        if value is not None:
            builder[name] = kind(value)
    if pw_code is not None:
        builder.pw_code = pw_code
    if lmp_code is not None:
        builder.lmp_code = lmp_code
    return builder
