"""The selection benchmark on one alloy: the labelled pool, the held-out sets, and one learning curve per strategy.

:func:`build_system` builds everything a strategy needs once (pool, held-out sets, linear-ACE
design matrices, the whole-pool fit); :func:`run_strategy` runs one strategy from a seed's start
set for a number of rounds, refitting the linear model after each and scoring it on the held-out
sets (:func:`evaluate`). All of it is deterministic given the seeds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from . import linear, pool, strategies
from .linear import Design, RidgeFit

LOGGER = logging.getLogger(__name__)

#: Strategies :func:`run_strategy` knows; ``random`` and ``stratified`` take many draws per seed.
STRATEGIES = ('random', 'stratified', 'campaign', 'maxvol')
RANDOMISED = ('random', 'stratified')
#: Measures of every fit: name -> (unit, description). ``PRIMARY`` decide whether a saving is claimed.
MEASURES = {
    'rare_force_p99': ('meV/A', '99th percentile of the per-atom force error on the rare held-out set'),
    'vacancy_formation': ('meV', 'mean absolute error of the relaxed vacancy formation energies'),
    'vacancy_migration': ('meV', 'mean absolute error of the vacancy migration (NEB) barriers'),
    'typical_force_rmse': ('meV/A', 'force-component RMSE on the typical held-out set'),
    'typical_energy_rmse': ('meV/atom', 'energy RMSE on the typical held-out set'),
    'rare_force_rmse': ('meV/A', 'force-component RMSE on the rare held-out set'),
    'bulk_modulus': ('GPa', 'mean absolute error of the bulk moduli (EOS)'),
    'elastic': ('GPa', "mean absolute error of C' and C44"),
}
PRIMARY = ('rare_force_p99', 'vacancy_formation', 'vacancy_migration')
SECONDARY = ('typical_force_rmse',)


@dataclass
class PoolSettings:
    """Sizes of the pool and held-out sets (scale 1: about 2000 pool frames, 8 % rare)."""

    elements: tuple[str, str]
    temperatures: tuple[float, ...] = (300.0, 700.0, 1100.0)
    frames_per_run: int = 77
    every: int = 10
    skip: int = 100
    rare_scale: float = 1.0
    heldout_frames_per_run: int = 10
    heldout_every: int = 30
    heldout_rare_scale: float = 1.0
    duplicate_pairs: int = 8
    seed: int = 2024

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class FitSettings:
    """The linear ACE model and its ridge fit."""

    functions_per_element: int = 100
    cutoff: float = 5.0
    energy_weight: float = 1.0
    ridge: float = 1e-6
    force_scale: float = 1.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Heldout:
    """The held-out sets of one alloy (never trained on) and their labels, to score any model."""

    typical_frames: list[Atoms]
    rare_frames: list[Atoms]
    property_frames: list[Atoms]

    def __post_init__(self):
        def labels(frames):
            return (
                np.array([a.get_potential_energy() for a in frames]),
                np.concatenate([a.get_forces().ravel() for a in frames]),
                np.array([len(a) for a in frames]),
            )

        self.typical = labels(self.typical_frames)
        self.rare = labels(self.rare_frames)
        self.reference = pool.property_values(
            self.property_frames, [a.get_potential_energy() for a in self.property_frames]
        )

    def errors(
        self,
        typical: tuple[np.ndarray, np.ndarray],
        rare: tuple[np.ndarray, np.ndarray],
        property_energies: np.ndarray,
    ) -> dict[str, float]:
        """Return the :data:`MEASURES` from predicted (energies, flat forces) of the typical and rare sets
        and the property frames' energies: any model's predictions, linear or not."""
        typical_delta = typical[1] - self.typical[1]
        rare_delta = rare[1] - self.rare[1]
        rare_norms = np.linalg.norm(rare_delta.reshape(-1, 3), axis=1)
        values = pool.property_values(self.property_frames, property_energies)
        return {
            'rare_force_p99': 1000 * float(np.percentile(rare_norms, 99)),
            'rare_force_rmse': 1000 * float(np.sqrt(np.mean(rare_delta**2))),
            'typical_force_rmse': 1000 * float(np.sqrt(np.mean(typical_delta**2))),
            'typical_energy_rmse': 1000
            * float(np.sqrt(np.mean(((typical[0] - self.typical[0]) / self.typical[2]) ** 2))),
            **pool.property_errors(values, self.reference),
        }


@dataclass
class System:
    """One alloy: labelled pool and held-out sets with their designs, and the whole-pool fit."""

    elements: tuple[str, str]
    basis_config: object
    frames: list[Atoms]
    design: Design
    strata: list[str]
    kinds: list[str]
    distances: np.ndarray
    twins: dict[int, int]
    heldout: Heldout
    typical: Design
    rare: Design
    properties: Design
    fit: FitSettings
    scale: np.ndarray
    whole_pool: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def new_fit(self) -> RidgeFit:
        return RidgeFit(self.design, self.fit.energy_weight, self.fit.ridge, self.scale, self.fit.force_scale)

    def cost(self, index: int) -> float:
        """DFT cost of labelling frame ``index`` relative to a 32-atom frame (atoms cubed)."""
        return float((self.design.natoms[index] / 32.0) ** 3)


def build_pool(settings: PoolSettings) -> dict:
    """Return the labelled frames of one alloy: ``pool``, ``typical``, ``rare``, ``properties`` and the twins.

    The pool, the typical and rare held-out sets come from three independent generators (seeds
    ``seed``, ``seed + 1``, ``seed + 2``); ``duplicate_pairs`` typical pool frames get a near copy
    appended to the pool (``twins``: copy index -> original index).
    """
    elements = pool.check_elements(settings.elements)
    timings = {}
    tick = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    frames = pool.typical_frames(
        elements, settings.temperatures, settings.frames_per_run, rng, every=settings.every, skip=settings.skip
    )
    frames += pool.rare_frames(elements, pool.scaled_counts(settings.rare_scale), settings.temperatures, rng)
    typical = [i for i, atoms in enumerate(frames) if atoms.info['kind'] == 'typical']
    originals = sorted(int(i) for i in rng.choice(typical, size=settings.duplicate_pairs, replace=False))
    twins = {}
    for copy in pool.plant_duplicates(frames, originals, rng):
        twins[len(frames)] = copy.info['twin_of']
        frames.append(copy)
    timings['pool_s'] = time.perf_counter() - tick
    tick = time.perf_counter()
    heldout_typical = pool.typical_frames(
        elements,
        settings.temperatures,
        settings.heldout_frames_per_run,
        np.random.default_rng(settings.seed + 1),
        every=settings.heldout_every,
        skip=settings.skip,
    )
    heldout_rare = pool.rare_frames(
        elements,
        pool.scaled_counts(settings.heldout_rare_scale),
        settings.temperatures,
        np.random.default_rng(settings.seed + 2),
    )
    properties = pool.property_frames(elements)
    timings['heldout_s'] = time.perf_counter() - tick
    return {
        'pool': frames,
        'twins': twins,
        'typical': heldout_typical,
        'rare': heldout_rare,
        'properties': properties,
        'timings': timings,
    }


def build_system(frames: dict, fit: FitSettings, elements) -> System:
    """Return the :class:`System` of the labelled frames of :func:`build_pool` on ``fit``'s linear basis."""
    from ..common.geometry import min_interatomic_distance

    tick = time.perf_counter()
    basis_config = linear.linear_basis(elements, fit.functions_per_element, fit.cutoff)
    design = linear.compute_design(basis_config, frames['pool'])
    typical = linear.compute_design(basis_config, frames['typical'])
    rare = linear.compute_design(basis_config, frames['rare'])
    properties = linear.compute_design(basis_config, frames['properties'], with_forces=False)
    design_s = time.perf_counter() - tick
    system = System(
        elements=tuple(elements),
        basis_config=basis_config,
        frames=frames['pool'],
        design=design,
        strata=[atoms.info['stratum'] for atoms in frames['pool']],
        kinds=[atoms.info['kind'] for atoms in frames['pool']],
        distances=np.array([min_interatomic_distance(atoms) for atoms in frames['pool']]),
        twins={int(k): int(v) for k, v in frames['twins'].items()},
        heldout=Heldout(frames['typical'], frames['rare'], frames['properties']),
        typical=typical,
        rare=rare,
        properties=properties,
        fit=fit,
        scale=linear.frame_scale(design, fit.energy_weight, fit.force_scale),
        timings={**frames['timings'], 'design_s': design_s},
    )
    whole = system.new_fit()
    whole.add(range(design.size))
    system.whole_pool = evaluate(system, whole.solve())
    return system


def evaluate(system: System, coefficients: np.ndarray) -> dict[str, float]:
    """Return the :data:`MEASURES` of the linear model ``coefficients``."""
    t, r = system.typical, system.rare
    return system.heldout.errors(
        (t.energy_rows @ coefficients, t.force_rows @ coefficients),
        (r.energy_rows @ coefficients, r.force_rows @ coefficients),
        system.properties.energy_rows @ coefficients,
    )


def start_set(system: System, seed: int, per_composition: int = 2) -> list[int]:
    """Return the start set of ``seed``: ``per_composition`` random typical frames of each composition,
    one of them the original of a planted pair (so its twin tests that a rule skips what it has)."""
    rng = np.random.default_rng([seed, 7])
    pairs = sorted(system.twins.items())
    twin_original = pairs[seed % len(pairs)][1] if pairs else None
    chosen = [] if twin_original is None else [twin_original]
    compositions = sorted({system.frames[i].info['composition'] for i, k in enumerate(system.kinds) if k == 'typical'})
    for x in compositions:
        frames = [
            i
            for i, k in enumerate(system.kinds)
            if k == 'typical' and system.frames[i].info['composition'] == x and i not in system.twins
        ]
        if twin_original is not None and system.frames[twin_original].info['composition'] == x:
            need = per_composition - 1
        else:
            need = per_composition
        frames = [i for i in frames if i != twin_original]
        chosen += [int(i) for i in rng.choice(frames, size=need, replace=False)]
    return sorted(chosen)


def campaign_settings(protocol: str = 'balanced') -> dict:
    """Return the campaign's selection settings: ``SELECTION_DEFAULTS`` with ``protocol``'s trust window."""
    from ..campaign.config import protocol_presets
    from ..exploration.selection import SELECTION_DEFAULTS

    exploration = protocol_presets()[protocol]['exploration']
    return {
        **SELECTION_DEFAULTS,
        'gamma_lower': float(exploration['gamma_lower']),
        'gamma_upper': float(exploration['gamma_upper']),
    }


def run_strategy(
    system: System,
    strategy: str,
    seed: int,
    draw: int,
    rounds: int,
    per_round: int,
    selection_settings: dict,
    keep_rounds: tuple[int, ...] = (),
) -> dict:
    """Return the learning curve of ``strategy`` from ``seed``'s start set: one fit and score per round.

    Returns ``labels`` and ``cost`` added (start set not counted) and every measure per round
    (round 0 is the start set), the frames chosen per round, the top-ups (frames the rule did not
    choose, drawn at random to fill the batch), the frames chosen that were already labelled
    (``picked_again``) or whose planted twin was (``picked_twin``), what the rule saw, and the
    coefficients of the rounds in ``keep_rounds``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f'`strategy`: `{strategy}`; allowed: {", ".join(STRATEGIES)}')
    code = STRATEGIES.index(strategy)
    rng = np.random.default_rng([seed, draw, code])
    start = start_set(system, seed)
    fit = system.new_fit()
    fit.add(start)
    labelled = set(start)
    added: list[int] = []
    coefficients = fit.solve()
    curve = {'labels': [0], 'cost': [0.0], **{m: [v] for m, v in evaluate(system, coefficients).items()}}
    chosen_rounds, top_ups, seen, kept = [], [], [], {}
    picked_again = picked_twin = 0
    if 0 in keep_rounds:
        kept[0] = coefficients
    everything = list(range(system.design.size))
    partners = {**system.twins, **{original: copy for copy, original in system.twins.items()}}
    tick = time.perf_counter()
    for number in range(1, rounds + 1):
        available = [i for i in everything if i not in labelled]
        info = {}
        if strategy == 'random':
            chosen = strategies.uniform_random(available, per_round, rng)
        elif strategy == 'stratified':
            chosen = strategies.stratified_random(system.strata, available, added, per_round, rng)
        else:
            active = linear.active_set(system.design, sorted(labelled))
            if strategy == 'campaign':
                with strategies.known_distances(system.frames, system.distances):
                    chosen, info = strategies.campaign_selection(
                        system.design, system.frames, active, everything, per_round, selection_settings
                    )
            else:
                chosen, info = strategies.maxvol_selection(system.design, active, available, per_round)
        batch = []
        for index in chosen:
            picked_again += index in labelled
            partner = partners.get(index)
            picked_twin += partner is not None and (partner in labelled or partner in batch)
            batch.append(index)
        missing = per_round - len(batch)
        filled = []
        if missing > 0:
            pool_left = [i for i in available if i not in batch]
            allowed = strategies.acceptable_for_top_up(
                system.frames, pool_left, selection_settings if strategy == 'campaign' else None, system.distances
            )
            filled = strategies.uniform_random(allowed or pool_left, missing, rng)
        batch += filled
        fit.add(batch)
        labelled.update(batch)
        added += batch
        coefficients = fit.solve()
        for measure, value in evaluate(system, coefficients).items():
            curve[measure].append(value)
        curve['labels'].append(len(added))
        curve['cost'].append(curve['cost'][-1] + sum(system.cost(i) for i in batch))
        chosen_rounds.append(batch)
        top_ups.append(len(filled))
        seen.append(info)
        if number in keep_rounds:
            kept[number] = coefficients
    kinds = [system.kinds[i] for i in added]
    return {
        'strategy': strategy,
        'seed': seed,
        'draw': draw,
        'start': start,
        'curve': curve,
        'chosen': chosen_rounds,
        'top_ups': top_ups,
        'picked_again': int(picked_again),
        'picked_twin': int(picked_twin),
        'rare_added': int(sum(kind != 'typical' for kind in kinds)),
        'kinds_added': {kind: kinds.count(kind) for kind in sorted(set(kinds))},
        'seen': seen,
        'seconds': round(time.perf_counter() - tick, 2),
        'coefficients': kept,
    }
