"""How the campaign calls each stage: builders from the campaign file, and what it reads back.

This is the only module that knows the stages' port names; ``ActiveLearningWorkChain`` speaks to
the stages through these functions only.
"""

from __future__ import annotations

import math

from aiida import orm
from aiida.common.exceptions import NotExistent
from ase.data import atomic_numbers

from .config import CampaignConfig, CompositionRange, deep_merge


def _code(label: str, field: str) -> orm.AbstractCode:
    try:
        return orm.load_code(label)
    except NotExistent:
        raise ValueError(f'field `codes.{field}`: code `{label}` is not set up; run `mlip-autopipe setup`') from None


def check_resources(config: CampaignConfig) -> None:
    """Refuse, before submission, a campaign whose codes, pseudopotentials or labeller do not fit."""
    from ..labelling.ase_labeller import check_ase_labeller

    needed = {'pacemaker': config.codes.pacemaker, 'lmp': config.codes.lmp}
    if config.labeller == 'qe':
        needed['pw'] = config.codes.pw
    if config.screening.enabled:
        needed['surrogate'] = config.codes.surrogate
    for field, label in needed.items():
        _code(label, field)
    if config.labeller == 'emt':
        try:
            check_ase_labeller('emt', config.elements)
        except ValueError as exception:
            raise ValueError(f'field `labeller`: {exception}') from None
    else:
        from ..pseudos import check_family_covers, load_family

        try:
            check_family_covers(load_family(config.dft.pseudo_family), config.elements)
        except ValueError as exception:
            raise ValueError(f'field `dft.pseudo_family`: {exception}') from None


# -- generation ------------------------------------------------------------------------------------


def generation_builder(config: CampaignConfig):
    """Return the ``StructureGenerationWorkChain`` builder for the campaign's chemistry.

    Elements, compositions and seed come from the campaign; ``generation`` (filled from the
    protocol preset) sets sizes and counts per method. A binary without ``composition_points`` gives
    its ``composition`` range; otherwise every composition point is given. With three or more
    elements the SQS compositions are rounded to whole atoms of each SQS size (``sqs_rounding``: a
    third of 16 atoms is no whole number) and, unless ``generation.counts.sqs`` is set, one SQS is
    made per alloy composition point.
    """
    from ..generation.workchain import StructureGenerationWorkChain

    spec = {'elements': config.elements, 'seed': config.seed}
    if len(config.elements) == 2 and not config.composition_points:
        composition = config.composition or CompositionRange()
        spec['composition_range'] = {
            'element': config.elements[-1],
            'start': composition.min,
            'stop': composition.max,
            'num': composition.points,
        }
    else:
        spec['compositions'] = config.compositions()
    if len(config.elements) >= 3:
        spec['sqs_rounding'] = True
        if 'sqs' not in (config.generation.get('counts') or {}):
            alloys = [point for point in config.compositions() if sum(value > 0 for value in point.values()) > 1]
            spec['counts'] = {'sqs': len(alloys)}
    builder = StructureGenerationWorkChain.get_builder()
    builder.spec = orm.Dict(deep_merge(spec, config.generation))
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
        if config.dft.overrides:
            builder.overrides = orm.Dict(config.dft.overrides)
        if config.dft.options:
            builder.options = orm.Dict(config.dft.options)
        builder.max_concurrent = orm.Int(config.dft.max_concurrent)
        builder.min_success_fraction = orm.Float(config.dft.min_success_fraction)
    builder.structures = dict(structures)
    return builder


def labelling_cpu_seconds(node) -> float | None:
    """Return the CPU seconds of the pw.x runs under a labelling node (wall time x MPI processes).

    None for a labeller without DFT jobs (EMT). Runs served from the cache count zero.
    """
    seconds, found = 0.0, False
    for child in node.called_descendants:
        if child.process_type != 'aiida.calculations:quantumespresso.pw':
            continue
        found = True
        if child.base.caching.is_created_from_cache or 'output_parameters' not in child.outputs:
            continue
        wall = child.outputs.output_parameters.get('wall_time_seconds') or 0.0
        resources = child.get_option('resources') or {}
        processes = resources.get('num_machines', 1) * resources.get('num_mpiprocs_per_machine', 1)
        seconds += float(wall) * processes
    return round(seconds, 1) if found else None


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


def training_builder(config: CampaignConfig, training_set, previous_potential=None):
    """Return the ``PacemakerWorkChain`` builder; refit from ``previous_potential`` when given.

    pacemaker's own random test split is off: the campaign scores every potential on its held-out set.
    With three or more elements and no ``number_of_functions_per_element`` in ``fit.overrides``, the
    basis has :func:`functions_per_element` functions per element (as many as the training set's
    rarest element allows).
    """
    from ..training.workchain import PacemakerWorkChain

    overrides = {'pacemaker': {'parameters': {'seed': config.seed, 'test_size': 0.0}}}
    chosen = (config.fit.overrides.get('pacemaker') or {}).get('parameters') or {}
    if len(config.elements) >= 3 and 'number_of_functions_per_element' not in chosen:
        preset = PacemakerWorkChain.get_protocol_inputs(config.fit.protocol)['pacemaker']['parameters']
        numbers = training_set.get_array('numbers')
        fewest = min(int((numbers == atomic_numbers[symbol]).sum()) for symbol in config.elements)
        functions = functions_per_element(preset['number_of_functions_per_element'], len(config.elements), fewest)
        overrides['pacemaker']['parameters']['number_of_functions_per_element'] = functions
    return PacemakerWorkChain.get_builder_from_protocol(
        _code(config.codes.pacemaker, 'pacemaker'),
        training_set,
        protocol=config.fit.protocol,
        overrides=deep_merge(overrides, config.fit.overrides),
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


def exploration_builder(config: CampaignConfig, potential, training_set, temperatures, iteration: int):
    """Return the ``ExplorationWorkChain`` builder for one iteration's MD schedule.

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
        training_set, orm.Dict(settings), metadata={'call_link_label': f'starting_structures_{iteration}'}
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
        }
    )
    builder.seed = orm.Int(config.seed + iteration)
    return builder


def exploration_result(node) -> tuple[orm.Dict, dict]:
    """Return the exploration report and the structures selected for labelling (keys made unique)."""
    report = node.outputs.report
    return report, dict(node.outputs.structures)


# -- validation ------------------------------------------------------------------------------------


def validation_compositions(config: CampaignConfig) -> list[dict[str, float]]:
    """Return the compositions of the validation's disordered cells: every composition point of a binary, the
    equiatomic point of three or more elements (beside the end members and each pair's ordered compound)."""
    if len(config.elements) <= 2:
        return config.compositions()
    return [{element: round(1.0 / len(config.elements), 10) for element in config.elements}]


def validation_builder(config: CampaignConfig, potential):
    """Return the ``ValidationWorkChain`` builder comparing ``potential`` with the campaign's labeller.

    Cells: the end members, the ordered compound of each pair and the disordered cells of
    :func:`validation_compositions`.
    """
    from ..validation.workchain import get_validation_builder

    qe = config.labeller == 'qe'
    settings = config.validation
    return get_validation_builder(
        potential,
        labeller=config.labeller,
        elements=config.elements,
        pw_code=_code(config.codes.pw, 'pw') if qe else None,
        pseudo_family=config.dft.pseudo_family if qe else None,
        protocol=config.dft.protocol if qe else None,
        overrides=(config.dft.overrides or None) if qe else None,
        options=(config.dft.options or None) if qe else None,
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
        tolerances=settings.tolerances or None,
        seed=config.seed,
    )
