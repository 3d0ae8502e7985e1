"""One alloy of the selection benchmark, start to end in one process: pool, strategies, what the checks need.

:func:`run_alloy` builds (or loads from its cache) the labelled pool and held-out sets, runs every
strategy for every seed and draw with the linear model, and prepares what the two checks need:
the training frames of the pacemaker fits and the linear potentials (B-basis YAML with the fitted
coefficients, and their active sets) of the MD runs. It takes and returns plain picklable objects,
so the benchmark script can run one alloy per process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from pathlib import Path

import numpy as np

from . import linear
from .runner import RANDOMISED, FitSettings, PoolSettings, build_pool, build_system, campaign_settings, run_strategy

LOGGER = logging.getLogger(__name__)


def cached_pool(settings: PoolSettings, cache: Path | None) -> dict:
    """Return :func:`build_pool` of ``settings``, from ``cache`` when an identical one was built before."""
    if cache is None:
        return build_pool(settings)
    key = hashlib.sha256(json.dumps(settings.as_dict(), sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache) / f'pool-{"-".join(settings.elements)}-{key}.pkl'
    if path.exists():
        frames = pickle.loads(path.read_bytes())
        frames['timings'] = {**frames['timings'], 'from_cache': True}
        return frames
    frames = build_pool(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(frames))
    return frames


def _plain(value):
    """Return ``value`` with numpy scalars and arrays turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_alloy(config: dict) -> dict:
    """Run the linear part of the benchmark for one alloy; return its results and what the checks need.

    ``config`` keys: ``elements``, ``pool`` (:class:`PoolSettings` fields but ``elements``), ``fit``
    (:class:`FitSettings` fields), ``seeds``, ``draws``, ``stratified_draws``, ``rounds``,
    ``per_round``, ``protocol``, ``cache`` (folder or None), ``md`` (None, or ``folder`` and
    ``strategies``), ``pacemaker`` (None, or ``seeds``, ``budgets`` and ``strategies``).
    """
    logging.getLogger('alembic').setLevel(logging.WARNING)  # AiiDA's storage plugins announce themselves
    tick = time.perf_counter()
    elements = tuple(config['elements'])
    pool_settings = PoolSettings(elements=elements, **config['pool'])
    frames = cached_pool(pool_settings, config.get('cache'))
    system = build_system(frames, FitSettings(**config['fit']), elements)
    selection = campaign_settings(config['protocol'])
    rounds, per_round = config['rounds'], config['per_round']
    runs = []
    strategy_seconds = {}
    for seed in config['seeds']:
        for strategy in ('random', 'stratified', 'campaign', 'maxvol'):
            draws = {'random': config['draws'], 'stratified': config['stratified_draws']}.get(strategy, 1)
            for draw in range(draws):
                run = run_strategy(system, strategy, seed, draw, rounds, per_round, selection, keep_rounds=(rounds,))
                strategy_seconds[strategy] = strategy_seconds.get(strategy, 0.0) + run['seconds']
                runs.append(run)
    LOGGER.info('%s: %d runs in %.0f s', '-'.join(elements), len(runs), time.perf_counter() - tick)

    checks = {}
    for strategy in ('random', 'stratified', 'campaign', 'maxvol'):
        mine = [run for run in runs if run['strategy'] == strategy]
        labels = sum(run['curve']['labels'][-1] for run in mine)
        checks[strategy] = {
            'picked_again': sum(run['picked_again'] for run in mine),
            'picked_twin': sum(run['picked_twin'] for run in mine),
            'top_ups': sum(sum(run['top_ups']) for run in mine),
            'labels': labels,
            'rare_fraction': sum(run['rare_added'] for run in mine) / labels if labels else 0.0,
        }

    whole = system.new_fit()
    whole.add(range(system.design.size))
    whole_coefficients = whole.solve()
    potentials = {}
    if config.get('md'):
        folder = Path(config['md']['folder'])
        for run in runs:
            if run['strategy'] not in config['md']['strategies'] or run['draw'] != 0:
                continue
            labelled = sorted({*run['start'], *(i for batch in run['chosen'] for i in batch)})
            target = folder / f'{run["strategy"]}-seed{run["seed"]}'
            paths = linear.write_potential(
                system.basis_config, run['coefficients'][rounds], linear.active_set(system.design, labelled), target
            )
            potentials.setdefault(run['strategy'], {})[run['seed']] = [str(p) for p in paths]
        if 'whole_pool' in config['md']['strategies']:
            paths = linear.write_potential(
                system.basis_config,
                whole_coefficients,
                linear.active_set(system.design, range(system.design.size)),
                folder / 'whole_pool',
            )
            potentials['whole_pool'] = {seed: [str(p) for p in paths] for seed in config['seeds']}

    training = []
    if config.get('pacemaker'):
        check = config['pacemaker']
        for run in runs:
            if run['strategy'] not in check['strategies'] or run['seed'] not in check['seeds'] or run['draw'] != 0:
                continue
            added = [i for batch in run['chosen'] for i in batch]
            for budget in check['budgets']:
                indices = [*run['start'], *added[:budget]]
                training.append(
                    {
                        'strategy': run['strategy'],
                        'seed': run['seed'],
                        'budget': budget,
                        'frames': [system.frames[i] for i in indices],
                    }
                )

    kinds = system.kinds
    rare = sum(kind != 'typical' for kind in kinds)
    for run in runs:
        run.pop('coefficients')
        if run['strategy'] in RANDOMISED:
            run.pop('seen')
    result = {
        'elements': list(elements),
        'pool': {
            'frames': len(kinds),
            'rare': int(rare),
            'rare_fraction': rare / len(kinds),
            'twins': len(system.twins),
            'twin_pairs': sorted([copy, original] for copy, original in system.twins.items()),
            'kinds': {kind: kinds.count(kind) for kind in sorted(set(kinds))},
            'atoms': {int(n): int(c) for n, c in zip(*np.unique(system.design.natoms, return_counts=True))},
            'settings': pool_settings.as_dict(),
        },
        'heldout': {
            'typical': len(system.heldout.typical_frames),
            'rare': len(system.heldout.rare_frames),
            'properties': len(system.heldout.property_frames),
            'reference': system.heldout.reference,
        },
        'basis_functions': int(system.design.energy_rows.shape[1]),
        'fit': system.fit.as_dict(),
        'selection_settings': selection,
        'start_size': len(runs[0]['start']) if runs else 0,
        'whole_pool': system.whole_pool,
        'runs': runs,
        'checks': checks,
        'timings': {**system.timings, **{f'{k}_s': v for k, v in strategy_seconds.items()}},
        'seconds': time.perf_counter() - tick,
    }
    return {
        'result': _plain(result),
        'heldout': system.heldout,
        'pacemaker_training': training,
        'md_potentials': potentials,
        'species': list(linear.basis_elements(system.basis_config)),
    }
