"""How the campaign calls each stage: builders from the campaign file, and what it reads back.

This is the only module that knows the stages' port names; ``ActiveLearningWorkChain`` speaks to
the stages through these functions only.
"""

from __future__ import annotations

import math

from aiida import orm
from aiida.common.exceptions import MultipleObjectsError, NotExistent, ValidationError

from ..setup import accepted_plugins
from .config import CampaignConfig, CampaignError


def _code(label: str, field: str) -> orm.AbstractCode:
    """Return the code ``label`` of the field ``codes.<field>``; refuse one that is absent, of another plugin, or
    whose executable on a local computer is gone (e.g. registered from a deleted clone)."""
    try:
        code = orm.load_code(label)
    except NotExistent:
        raise ValueError(f'field `codes.{field}`: code `{label}` is not set up; run `mlip-autopipe setup`') from None
    except MultipleObjectsError:
        raise ValueError(f'field `codes.{field}`: `{label}` names more than one code; give `label@computer`') from None
    # only a local installed code has an executable to check here; a portable code has no computer at all
    installed = isinstance(code, orm.InstalledCode) and not isinstance(code, orm.ContainerizedCode)
    if installed and code.computer.transport_type == 'core.local':
        try:
            code.validate_filepath_executable()
        except ValidationError:
            raise ValueError(
                f'field `codes.{field}`: code `{code.full_label}` runs `{code.filepath_executable}`, which is not an '
                "executable file on this machine; run `mlip-autopipe setup` (it re-points the plugin's own codes) "
                'or set the code up again'
            ) from None
    plugin = code.default_calc_job_plugin
    accepted = accepted_plugins(field)
    if plugin not in accepted:
        raise ValueError(
            f'field `codes.{field}`: code `{code.full_label}` runs `{plugin}`; `codes.{field}` needs a '
            f'`{"` or `".join(accepted)}` code'
        )
    return code


def python_code_label(config: CampaignConfig) -> str:
    """Return the label of the plugin's Python code the campaign's task jobs run with.

    ``codes.python`` when the campaign file has it, else ``python`` on the computer of ``codes.pacemaker``
    (``mlip-autopipe setup`` registers both there).
    """
    label = getattr(config.codes, 'python', None)
    if label:
        return label
    computer = config.codes.pacemaker.partition('@')[2]
    return f'python@{computer}' if computer else 'python'


def _needed_codes(config: CampaignConfig) -> dict[str, str]:
    needed = {'pacemaker': config.codes.pacemaker, 'lmp': config.codes.lmp, 'python': python_code_label(config)}
    if config.labeller == 'qe':
        needed['pw'] = config.codes.pw
    if config.screening.enabled:
        needed['surrogate'] = config.codes.surrogate
    return needed


def _scheduler_problem(code: orm.AbstractCode, options: dict, path: str) -> str | None:
    """Return why the computer of ``code`` refuses the ``resources`` of ``options`` (field ``path``), or None."""
    resources = options.get('resources')
    if not resources:
        return None
    try:
        code.computer.get_scheduler().create_job_resource(**resources)
    except (ValueError, TypeError) as exception:
        return (
            f'field `{path}.resources`: the {code.computer.scheduler_type} scheduler of `{code.computer.label}` '
            f'refuses {resources}: {exception}'
        )
    return None


def _labelling_problems(config: CampaignConfig, code: orm.AbstractCode) -> list[str]:
    """Build, without submitting, the ``PwBaseWorkChain`` of one small structure with the campaign's DFT settings.

    aiida-quantumespresso then reads ``dft.overrides`` and ``dft.options`` as it would for every
    label, and the inputs are validated against its process specification.
    """
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain
    from ase.build import bulk

    from ..labelling.protocol import get_pw_builder
    from ..pseudos import load_family

    options = config.dft.options.model_dump()
    atoms = bulk(config.elements[0], 'fcc', a=4.0, cubic=len(config.elements) > 1)
    if len(config.elements) > 1:
        atoms.symbols[1:] = config.elements[1]
    try:
        builder = get_pw_builder(
            code,
            orm.StructureData(ase=atoms),
            load_family(config.dft.pseudo_family),
            protocol=config.dft.protocol,
            overrides=config.dft.overrides.model_dump(),
            options=options or None,
        )
        error = PwBaseWorkChain.spec().inputs.validate(builder._inputs(prune=True))
    except (ValueError, TypeError, KeyError, AttributeError) as exception:
        return [f'field `dft.overrides`: aiida-quantumespresso cannot build a pw.x run from it: {exception}']
    if error is None:
        return []
    field = 'dft.options' if 'metadata.options' in f'{error.port} {error.message}' else 'dft.overrides'
    return [f'field `{field}`: the pw.x run built from it is refused: {error.message}']


def resource_problems(config: CampaignConfig) -> list[str]:
    """Return what the profile refuses in ``config``: codes (set up, right plugin), pseudopotentials, labeller, jobs.

    These checks need the AiiDA profile; :func:`~.config.campaign_from_dict` made the pure ones.
    """
    from ..labelling.ase_labeller import check_ase_labeller

    problems, codes = [], {}
    for field, label in _needed_codes(config).items():
        try:
            codes[field] = _code(label, field)
        except ValueError as exception:
            problems.append(str(exception))
    if config.labeller == 'emt':
        try:
            check_ase_labeller('emt', config.elements)
        except ValueError as exception:
            problems.append(f'field `labeller`: {exception}')
    else:
        from ..pseudos import check_family_covers, load_family

        try:
            check_family_covers(load_family(config.dft.pseudo_family), config.elements)
        except ValueError as exception:
            problems.append(f'field `dft.pseudo_family`: {exception}')
        else:
            if 'pw' in codes:
                problems += _labelling_problems(config, codes['pw'])
    if 'pacemaker' in codes:
        options = (config.fit_overrides()['pacemaker'].get('metadata') or {}).get('options') or {}
        problem = _scheduler_problem(codes['pacemaker'], options, 'fit.overrides.pacemaker.metadata.options')
        if problem:
            problems.append(problem)
    return problems


def check_resources(config: CampaignConfig) -> None:
    """Refuse, before submission, a campaign whose codes, pseudopotentials, labeller or jobs do not fit.

    Raises :class:`~.config.CampaignError` (a ``ValueError``) naming every wrong field, one per line.
    """
    problems = resource_problems(config)
    if problems:
        raise CampaignError('\n'.join(problems))


# -- generation ------------------------------------------------------------------------------------


def generation_builder(config: CampaignConfig):
    """Return the ``StructureGenerationWorkChain`` builder for the campaign's chemistry.

    Elements, compositions and seed come from the campaign; ``generation`` (filled from the
    protocol preset) sets sizes and counts per method (``CampaignConfig.generation_spec``: a binary
    without ``composition_points`` gives its ``composition`` range, otherwise every composition point
    is given; with three or more elements the SQS compositions are rounded to whole atoms of each SQS
    size and, unless ``generation.counts.sqs`` is set, one SQS is made per alloy composition point).
    """
    from ..generation.workchain import StructureGenerationWorkChain

    builder = StructureGenerationWorkChain.get_builder()
    builder.spec = orm.Dict(config.generation_spec())
    builder.group_label = orm.Str(f'mlip-autopipe/campaign/{config.name}/generated')
    return builder


def generated_structures(node) -> dict:
    """Return the structures a generation work chain produced, by key."""
    return dict(node.outputs.structures)


# -- screening -------------------------------------------------------------------------------------


def screening_builder(config: CampaignConfig, structures: dict):
    """Return the ``SurrogateScreeningWorkChain`` builder that keeps ``config.screening.select``."""
    from ..screening.workchain import SurrogateScreeningWorkChain

    builder = SurrogateScreeningWorkChain.get_builder()
    builder.structures = structures
    builder.code = _code(config.codes.surrogate, 'surrogate')
    builder.num_select = orm.Int(min(config.screening.select, len(structures)))
    builder.seed = orm.Int(config.seed)
    return builder


def screened_structures(node) -> dict:
    """Return the structures the screening selected, by key."""
    return dict(node.outputs.selected)


# -- labelling -------------------------------------------------------------------------------------


def labelling_builder(config: CampaignConfig, structures: dict):
    """Return the labelling builder of the campaign's labeller (pw.x or an ASE calculator)."""
    if config.labeller == 'emt':
        from ..labelling.ase_labeller import AseLabellingWorkChain

        builder = AseLabellingWorkChain.get_builder()
        builder.calculator = orm.Str('emt')
    else:
        from ..labelling.workchain import DftLabellingWorkChain

        builder = DftLabellingWorkChain.get_builder()
        builder.code = _code(config.codes.pw, 'pw')
        builder.pseudo_family = orm.Str(config.dft.pseudo_family)
        builder.protocol = orm.Str(config.dft.protocol)
        overrides, options = config.dft.overrides.model_dump(), config.dft.options.model_dump()
        if overrides:
            builder.overrides = orm.Dict(overrides)
        if options:
            builder.options = orm.Dict(options)
        builder.max_concurrent = orm.Int(config.dft.max_concurrent)
        builder.min_success_fraction = orm.Float(config.dft.min_success_fraction)
    builder.structures = dict(structures)
    return builder


def label_check_structures(config: CampaignConfig) -> tuple[dict[str, orm.StructureData], list[str]]:
    """Return the cells of the label check (:func:`~..labelling.consistency.check_cells`) and the elements
    without a reference crystal in ASE (not checked)."""
    from ..labelling.consistency import check_cells

    structures, skipped = {}, []
    for element in config.elements:
        try:
            cells = check_cells(element)
        except ValueError:
            skipped.append(element)
            continue
        structures.update({key: orm.StructureData(ase=atoms) for key, atoms in cells.items()})
    return structures, skipped


def label_check_result(config: CampaignConfig, labels) -> tuple[dict, str | None]:
    """Return the per-element disagreement of the label check's ``labels`` and why it fails (None if it passes)."""
    from ..labelling.consistency import cell_disagreement, inconsistency_reason
    from ..labelling.protocol import protocol_kpoints_distance

    energies = {atoms.info['config_type']: atoms.get_potential_energy() / len(atoms) for atoms in labels.iter_atoms()}
    disagreement = cell_disagreement(energies)
    distance = protocol_kpoints_distance(config.dft.protocol, config.dft.overrides.model_dump())
    return disagreement, inconsistency_reason(disagreement, config.targets.energy_rmse_mev_atom, distance)


def labelling_result(node) -> tuple:
    """Return the labels of a labelling node (a ``TrainingSet``, None when it gave none) and its failures by key."""
    labels = node.outputs.training_set if 'training_set' in node.outputs else None
    failures = node.outputs.failures.get_dict() if 'failures' in node.outputs else {}
    return labels, failures


def labelling_cpu_seconds(node) -> float | None:
    """Return the CPU seconds of the pw.x runs under a labelling node (pw.x's own count x MPI processes).

    None for a labeller without DFT jobs (EMT). Runs served from the cache count zero.
    """
    from ..common.timing import PW_PROCESS_TYPE, code_run

    calculations = [child for child in node.called_descendants if child.process_type == PW_PROCESS_TYPE]
    if not calculations:
        return None
    return round(sum(run.cpu_seconds for run in map(code_run, calculations) if run is not None), 1)


def labelling_core_saturation(node) -> float | None:
    """Return the share of its cores the pw.x runs of a labelling node kept busy, or None without pw.x runs.

    pw.x CPU seconds / (cores x batch wall seconds), cores = ``max_concurrent`` x MPI processes per
    run (:func:`~aiida_mlip_autopipe.common.timing.labelling_saturation`); a batch still running
    counts up to its last finished run.
    """
    from ..common.timing import labelling_saturation

    timing = labelling_saturation(node)
    return timing['core_saturation'] if timing else None


# -- training --------------------------------------------------------------------------------------


#: Fewest ACE functions per block of the basis a campaign of three or more elements asks pacemaker for.
MIN_FUNCTIONS_PER_BLOCK = 2


def functions_per_element(protocol_value: int, elements: int, fewest_atoms: int | None = None) -> int:
    """Return ``number_of_functions_per_element`` of a fit of ``elements`` elements whose protocol gives
    ``protocol_value``, on a training set with ``fewest_atoms`` atoms of its rarest element.

    pacemaker's basis has a block per element and set of neighbour elements, 2^(n-1) per element for n
    elements, and gives every block the same number of functions, ``number_of_functions_per_element``
    / 2^(n-1) rounded down (up to the block's pool): 16 per element leave 4 per block for three elements,
    1 for five, none at all for six. With three or more elements the value is raised to
    :data:`MIN_FUNCTIONS_PER_BLOCK` per block where it is below, but not beyond ``fewest_atoms`` (the
    active set needs as many atoms of each element as there are functions per element) and never
    below ``protocol_value``. It is not raised further: the cost of a fit per atom grows with the
    functions per element, and so does the data the active set needs (``pace_activeset`` fails on a
    singular matrix when the environments of an element span fewer dimensions than its functions; a
    quaternary set of 35 small cells spanned 16 to 23 against 32 functions per element).
    """
    if elements < 3:
        return protocol_value
    raised = MIN_FUNCTIONS_PER_BLOCK * 2 ** (elements - 1)
    if fewest_atoms is not None:
        raised = min(raised, fewest_atoms)
    return max(protocol_value, raised)


def training_builder(config: CampaignConfig, training_set, previous_potential=None, final: bool = False):
    """Return the ``PacemakerWorkChain`` builder; refit from ``previous_potential`` when given.

    pacemaker's own random test split is off: the campaign scores every potential on its held-out set
    (``CampaignConfig.fit_overrides``). With three or more elements and no
    ``number_of_functions_per_element`` in ``fit.overrides``, the basis has :func:`functions_per_element`
    functions per element (as many as the training set's rarest element allows). The ``final`` refit from
    scratch runs ``fit.final_maxiter`` iterations, by default the larger of the protocol's and the loop's,
    with ``fit.final_functions_per_element`` functions per element if given.
    """
    from ase.data import atomic_numbers

    from ..training.workchain import PacemakerWorkChain

    overrides = config.fit_overrides()
    parameters = overrides.setdefault('pacemaker', {}).setdefault('parameters', {})
    preset = PacemakerWorkChain.get_protocol_inputs(config.fit.protocol)['pacemaker']['parameters']
    chosen = (config.fit.overrides.model_dump(mode='json').get('pacemaker') or {}).get('parameters') or {}
    if len(config.elements) >= 3 and 'number_of_functions_per_element' not in chosen:
        numbers = training_set.get_array('numbers')
        fewest = min(int((numbers == atomic_numbers[symbol]).sum()) for symbol in config.elements)
        parameters['number_of_functions_per_element'] = functions_per_element(
            preset['number_of_functions_per_element'], len(config.elements), fewest
        )
    if final:
        loop_maxiter = chosen.get('maxiter') or preset['maxiter']
        parameters['maxiter'] = config.fit.final_maxiter or max(preset['maxiter'], loop_maxiter)
        if config.fit.final_functions_per_element:
            parameters['number_of_functions_per_element'] = config.fit.final_functions_per_element
    return PacemakerWorkChain.get_builder_from_protocol(
        _code(config.codes.pacemaker, 'pacemaker'),
        training_set,
        protocol=config.fit.protocol,
        overrides=overrides,
        previous_potential=previous_potential,
    )


def training_refusal(builder) -> str | None:
    """Return why the fit of ``builder`` would be refused at submission (too little data), or None."""
    from ..training.workchain import validate_inputs

    return validate_inputs(builder, None)


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def trained_potential(node) -> tuple:
    """Return the potential and its training errors (meV/A, meV/atom; None where pacemaker gave none)."""
    metrics = node.outputs.metrics.get_dict()
    return node.outputs.potential, {
        'force_rmse_train': _finite(metrics.get('train_force_rmse_mev_per_angstrom')),
        'energy_rmse_train': _finite(metrics.get('train_energy_rmse_mev_per_atom')),
    }


# -- exploration -----------------------------------------------------------------------------------


def exploration_builder(
    config: CampaignConfig, potential, training_set, temperatures, iteration: int, tag: str | None = None
):
    """Return the ``ExplorationWorkChain`` builder for one iteration's MD schedule (seeded by ``iteration``;
    ``tag`` names its calls instead of the iteration, for a second exploration of the same iteration).

    MD starts from one cell per composition point of the campaign (the labelled cell nearest to it
    and lowest in energy, at least ``exploration.min_atoms`` atoms), at every temperature of the
    schedule; NPT runs at the campaign's pressure with its barostat; with two or more elements and
    ``exploration.swaps.enabled`` the MD swaps atoms (hybrid MD/Monte Carlo). Frames with atoms
    closer than ``rules.frame_min_distance`` are not selected.
    """
    from ..exploration.workchain import ExplorationWorkChain
    from .functions import generate_starting_structures
    from .rules import frame_min_distance

    settings = {
        'compositions': config.compositions(),
        'min_atoms': config.exploration.min_atoms,
        'seed': config.seed + iteration,
    }
    structures = generate_starting_structures(
        training_set, orm.Dict(settings), metadata={'call_link_label': f'starting_structures_{tag or iteration}'}
    )
    exploration = config.exploration
    schedule = {
        'ensemble': exploration.ensemble,
        'temperatures': temperatures,
        'steps': exploration.steps,
        'timestep_fs': exploration.timestep_fs,
    }
    if exploration.ensemble == 'npt':
        schedule['pressures_gpa'] = [config.pressure_gpa]
        schedule['barostat'] = exploration.barostat
    swaps = exploration.swaps
    if swaps.enabled and len(config.elements) > 1:
        schedule.update(swap_every=swaps.every, swap_attempts=swaps.attempts, swap_temperature=swaps.temperature)
    builder = ExplorationWorkChain.get_builder()
    builder.code = _code(config.codes.lmp, 'lmp')
    builder.python_code = _code(python_code_label(config), 'python')
    builder.potential = potential
    builder.structures = dict(structures)
    builder.schedule = orm.Dict(schedule)
    builder.gamma_lower = orm.Float(exploration.gamma_lower)
    builder.gamma_upper = orm.Float(exploration.gamma_upper)
    builder.max_selected = orm.Int(exploration.max_selected)
    builder.selection = orm.Dict(
        {
            'method': exploration.selection,
            'label_above_upper': exploration.label_above_upper,
            'min_distance': frame_min_distance(config.elements),
            'label_atoms': exploration.label_atoms,
            'label_atoms_max': exploration.label_atoms_max,
        }
    )
    builder.seed = orm.Int(config.seed + iteration)
    return builder


def exploration_result(node) -> tuple[orm.Dict, dict]:
    """Return the exploration report and the structures it selected for labelling, by their exploration keys.

    The keys are unique within one exploration only; the campaign prefixes them with the iteration
    (``it03_<key>``) before it queues them for labelling. An exploration that selected nothing has
    no ``structures`` output: an empty dict.
    """
    selected = dict(node.outputs.structures) if 'structures' in node.outputs else {}
    return node.outputs.report, selected


# -- validation ------------------------------------------------------------------------------------


def validation_compositions(config: CampaignConfig) -> list[dict[str, float]]:
    """Return the compositions of the validation's disordered cells: every composition point of a binary, the
    equiatomic point of three or more elements (beside the end members and each pair's ordered compound)."""
    if len(config.elements) <= 2:
        return config.compositions()
    return [{element: round(1.0 / len(config.elements), 10) for element in config.elements}]


def validation_report(node) -> orm.Dict | None:
    """Return the report of a validation node (None when it gave none)."""
    return node.outputs.report if 'report' in node.outputs else None


def validation_builder(config: CampaignConfig, potential):
    """Return the ``ValidationWorkChain`` builder comparing ``potential`` with the campaign's labeller."""
    from ..validation.workchain import get_validation_builder

    qe = config.labeller == 'qe'
    settings = config.validation
    return get_validation_builder(
        potential,
        _code(python_code_label(config), 'python'),
        labeller=config.labeller,
        elements=config.elements,
        pw_code=_code(config.codes.pw, 'pw') if qe else None,
        pseudo_family=config.dft.pseudo_family if qe else None,
        protocol=config.dft.protocol if qe else None,
        overrides=(config.dft.overrides.model_dump() or None) if qe else None,
        options=(config.dft.options.model_dump() or None) if qe else None,
        max_concurrent=config.dft.max_concurrent if qe else None,
        lmp_code=_code(config.codes.lmp, 'lmp'),
        properties=settings.properties,
        temperature_max=config.temperature.max,
        md_steps=settings.md_steps,
        md_atoms=settings.md_atoms,
        md_swap_every=config.exploration.swaps.every if config.exploration.swaps.enabled else 0,
        md_swap_attempts=config.exploration.swaps.attempts,
        compositions=validation_compositions(config),
        gamma_halt=config.exploration.gamma_upper,
        vacancy_supercell=settings.vacancy_supercell,
        sqs_supercell=settings.sqs_supercell,
        phonon_supercell=settings.phonon_supercell,
        tolerances=settings.tolerances.model_dump() or None,
        seed=config.seed,
    )
