"""Pure rules of the campaign loop: the temperature schedule, frame distances, convergence and budgets.

They take plain numbers (from exploration reports and fit metrics), so they can be studied and
benchmarked without running any code.
"""

from __future__ import annotations

import math

from ase.data import atomic_numbers, covalent_radii

#: Explored frames with two atoms closer than this fraction of twice the smallest covalent radius of
#: the campaign's elements are not sent to DFT (Cu: 1.85 A against a 2.55 A nearest neighbour).
FRAME_MIN_DISTANCE_FRACTION = 0.7


def frame_min_distance(elements, fraction: float = FRAME_MIN_DISTANCE_FRACTION) -> float:
    """Return the shortest interatomic distance (A) an explored frame may have to be labelled.

    MD with a poor early potential can push atoms together; one such frame (forces of tens of
    eV/A) can dominate a small training set and wreck the refit.
    """
    return round(fraction * 2 * min(covalent_radii[atomic_numbers[symbol]] for symbol in elements), 3)


def temperature_schedule(t_min: float, t_max: float, points: int, iteration: int, ramp_iterations: int) -> list[float]:
    """Return the MD temperatures (K) of exploration ``iteration`` (0-based).

    The highest temperature ramps linearly from ``t_min`` + one step to ``t_max``, reached at
    iteration ``ramp_iterations - 1`` and kept afterwards, so early potentials are not driven far
    outside what they know; ``points`` temperatures are spread evenly from ``t_min`` to that ceiling.
    """
    if t_max < t_min or points < 1 or ramp_iterations < 1 or iteration < 0:
        raise ValueError('need t_min <= t_max, points >= 1, ramp_iterations >= 1, iteration >= 0')
    ceiling = t_min + (t_max - t_min) * min(1.0, (iteration + 1) / ramp_iterations)
    if points == 1:
        return [round(ceiling, 1)]
    step = (ceiling - t_min) / (points - 1)
    return sorted({round(t_min + i * step, 1) for i in range(points)})


#: An explored composition stands for a campaign composition point within this atomic fraction.
COMPOSITION_TOLERANCE = 0.1


def _covered(point: dict[str, float], explored: list[dict[str, float]]) -> bool:
    return any(
        max(abs(point.get(symbol, 0.0) - seen.get(symbol, 0.0)) for symbol in set(point) | set(seen))
        <= COMPOSITION_TOLERANCE + 1e-9
        for seen in explored
    )


def convergence_criteria(row: dict, targets, temperature_max: float, compositions: list[dict]) -> list[dict]:
    """Return each convergence criterion of one iteration as ``{'name', 'met', 'value', 'target'}``.

    ``row`` holds the iteration's exploration (``temperature_explored``, ``compositions_explored``,
    ``runs_halted``, ``runs_failed``, ``high_gamma_fraction``: the largest of the runs' own) and the
    held-out errors of its potential (``heldout_force_rmse``, ``heldout_energy_rmse``). The criteria:
    the MD reached ``temperature_max`` and every composition of the campaign; no run halted or
    failed; every run's high-gamma fraction at most its target; the held-out errors at most theirs.
    """
    reached = row.get('temperature_explored')
    explored = row.get('compositions_explored') or []
    missing = [point for point in compositions if not _covered(point, explored)]
    stopped = (row.get('runs_halted') or 0) + (row.get('runs_failed') or 0)
    fraction = row.get('high_gamma_fraction')
    force = row.get('heldout_force_rmse')
    energy = row.get('heldout_energy_rmse')
    criteria = [
        {
            'name': 'temperature',
            'met': reached is not None and reached >= temperature_max - 1e-6,
            'value': reached,
            'target': temperature_max,
        },
        {
            'name': 'compositions',
            'met': not missing,
            'value': len(compositions) - len(missing),
            'target': len(compositions),
        },
        {'name': 'runs_halted', 'met': row.get('runs_total', 0) > 0 and stopped == 0, 'value': stopped, 'target': 0},
        {
            'name': 'high_gamma_fraction',
            'met': fraction is not None and fraction <= targets.high_gamma_fraction,
            'value': fraction,
            'target': targets.high_gamma_fraction,
        },
        {
            'name': 'force_rmse',
            'met': _finite(force) and force <= targets.force_rmse_mev_a,
            'value': force,
            'target': targets.force_rmse_mev_a,
        },
    ]
    if targets.energy_rmse_mev_atom is not None:
        criteria.append(
            {
                'name': 'energy_rmse',
                'met': _finite(energy) and energy <= targets.energy_rmse_mev_atom,
                'value': energy,
                'target': targets.energy_rmse_mev_atom,
            }
        )
    return criteria


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def describe_criteria(criteria: list[dict]) -> str:
    """Return the criteria as one line: ``name value <= target`` with ``ok`` or ``UNMET``."""
    parts = []
    for item in criteria:
        value = item['value']
        shown = f'{value:.3g}' if _finite(value) else '-'
        parts.append(f'{item["name"]} {shown} (target {item["target"]:g}) {"ok" if item["met"] else "UNMET"}')
    return '; '.join(parts)


#: Held-out errors the stop rule reads from an iteration's row.
HELD_OUT_ERRORS = ('heldout_force_rmse', 'heldout_energy_rmse')


def with_current_scores(rows: list[dict]) -> list[dict]:
    """Return the rows, each with the held-out errors of the potential its exploration ran.

    An iteration that fitted nothing (the exploration before it selected no frame; its row has no
    ``potential_pk``) explored with the last potential fitted, on the same held-out set: that
    potential's errors are its own. Without this the stop rule found no errors there and started
    counting its consecutive iterations again (seen 2026-12-02: a Si campaign met every criterion,
    then selected nothing twice and ended on its budget).
    """
    current: dict = {}
    completed = []
    for row in rows:
        if row.get('potential_pk') is not None:
            current = {key: row.get(key) for key in HELD_OUT_ERRORS}
            completed.append(row)
        else:
            completed.append({**row, **{key: value for key, value in current.items() if row.get(key) is None}})
    return completed


def convergence_verdict(
    rows: list[dict], targets, temperature_max: float, compositions: list[dict]
) -> tuple[bool, str, list[dict]]:
    """Return whether the campaign has converged after its last explored iteration, why, and its criteria.

    Converged when every criterion (:func:`convergence_criteria`) holds in each of the last
    ``targets.consecutive`` explored iterations: one good iteration is not enough, and a potential
    must stay good after the data its own exploration found were added.
    """
    explored = [row for row in with_current_scores(rows) if row.get('runs_total')]
    if not explored:
        return False, 'not converged: nothing explored yet', []
    criteria = convergence_criteria(explored[-1], targets, temperature_max, compositions)
    unmet = [item['name'] for item in criteria if not item['met']]
    if unmet:
        return False, f'not converged: {", ".join(unmet)} unmet ({describe_criteria(criteria)})', criteria
    streak = 0
    for row in reversed(explored):
        if not all(item['met'] for item in convergence_criteria(row, targets, temperature_max, compositions)):
            break
        streak += 1
    if streak < targets.consecutive:
        return (
            False,
            f'not converged: all criteria met in {streak} consecutive iteration(s) of {targets.consecutive}',
            criteria,
        )
    return (
        True,
        f'converged: all criteria met in {streak} consecutive iterations ({describe_criteria(criteria)})',
        criteria,
    )


def budget_verdict(
    iterations_done: int, dft_calculations: int, elapsed_hours: float, budgets, idle_explorations: int = 0
) -> str | None:
    """Return which budget has run out, or ``None`` while all remain (``idle_explorations``: the last
    explorations in a row that selected nothing while the stop rule was unmet)."""
    if idle_explorations >= budgets.idle_explorations:
        return (
            f'{idle_explorations} explorations in a row selected nothing to label while the stop rule was unmet '
            f'(budgets.idle_explorations {budgets.idle_explorations}): the potential no longer changes'
        )
    if iterations_done >= budgets.iterations:
        return f'iteration budget spent ({iterations_done} of {budgets.iterations})'
    if dft_calculations >= budgets.dft_calculations:
        return f'DFT budget spent ({dft_calculations} of {budgets.dft_calculations} calculations)'
    if elapsed_hours >= budgets.wall_time_hours:
        return f'wall-time budget spent ({elapsed_hours:.2f} of {budgets.wall_time_hours} h)'
    return None


def idle_exploration_streak(rows: list[dict]) -> int:
    """Return how many of the last iteration rows in a row explored and selected nothing (state ``explore``)."""
    streak = 0
    for row in reversed(rows):
        if row.get('state') != 'explore':
            break
        streak += 1
    return streak


def labels_allowed(requested: int, dft_calculations: int, budgets) -> int:
    """Return how many of ``requested`` labels still fit in the DFT budget."""
    return max(0, min(requested, budgets.dft_calculations - dft_calculations))


def explored_stably(exploration: dict | None) -> bool:
    """Whether an exploration (a row or report with ``runs_total``, ``runs_halted``, ``runs_failed``) ran MD
    and none of its runs halted or failed."""
    exploration = exploration or {}
    unstable = (exploration.get('runs_halted') or 0) + (exploration.get('runs_failed') or 0)
    return bool(exploration.get('runs_total')) and not unstable


def refit_ships(refit: dict | None, best_force: float, exploration: dict | None, targets) -> tuple[bool, str]:
    """Return whether the final refit from scratch ships instead of the best iteration's potential, and why.

    The final refit is the campaign's production fit (every label, the final basis and iterations, as
    DP-GEN's and pacemaker's workflows end with a longer fit of the final data), so it ships when the
    campaign accepts it: the MD of the last iteration's schedule ran with it without a halted or failed
    run (a potential no MD has run is not known to be stable), and its held-out errors ``refit``
    (``force_rmse``, ``energy_rmse``) meet the campaign's ``targets``, the bar the loop's potentials met to
    converge, or its force error is below the best iteration's ``best_force``. Otherwise the best
    iteration's potential ships.
    """
    force = (refit or {}).get('force_rmse')
    if not _finite(force):
        return False, 'final refit not scored'
    if not explored_stably(exploration):
        exploration = exploration or {}
        return False, (
            f'final refit ({force:.1f} meV/A) not shipped: its exploration had '
            f'{exploration.get("runs_halted") or 0} halted and {exploration.get("runs_failed") or 0} failed runs '
            f'of {exploration.get("runs_total") or 0}'
        )
    runs = f'its exploration {exploration["runs_total"]} runs without a halt'
    if force < best_force:
        return True, f'final refit from scratch: {force:.1f} meV/A, {runs}'
    energy = refit.get('energy_rmse')
    unmet = []
    if force > targets.force_rmse_mev_a:
        unmet.append(f'force {force:.1f} > {targets.force_rmse_mev_a:g} meV/A')
    if targets.energy_rmse_mev_atom is not None and not (_finite(energy) and energy <= targets.energy_rmse_mev_atom):
        unmet.append(f'energy {energy} > {targets.energy_rmse_mev_atom:g} meV/atom')
    if unmet:
        return False, f'final refit ({force:.1f} meV/A) neither below it nor within the targets ({"; ".join(unmet)})'
    return True, f'final refit from scratch: {force:.1f} meV/A, within the targets, {runs}'


def best_iteration(rows: list[dict], scores: dict) -> tuple[int, str]:
    """Return the iteration whose potential ships, and why.

    ``rows`` are the iteration rows (``iteration``, ``runs_halted``, ``runs_failed``, ``runs_total``
    of the exploration that potential ran); ``scores`` maps iteration -> held-out force RMSE of its
    potential, all on the same held-out set. The potential with the lowest held-out force error
    among the iterations whose exploration had no halted or failed run ships; if there is none,
    the lowest overall. Ties go to the later iteration (more data).
    """
    finite = {int(key): value for key, value in scores.items() if _finite(value)}
    if not finite:
        raise ValueError('no iteration has a finite held-out force error')
    stable = {row['iteration'] for row in rows if explored_stably(row)}
    pool = {key: value for key, value in finite.items() if key in stable}
    rule = 'lowest held-out force RMSE among iterations whose exploration had no halted run'
    if not pool:
        pool, rule = finite, 'lowest held-out force RMSE (every exploration had a halted run, or none ran)'
    best = min(pool, key=lambda key: (pool[key], -key))
    return best, f'{rule}: iteration {best}, {pool[best]:.1f} meV/A'


#: A kind with at least this many labels in a batch gives one of them to the held-out set if it has none yet.
HELD_OUT_MIN_KIND_SIZE = 3
#: Kinds that are never held out: support data outside the ground the potential is judged on (the
#: compressed cells that teach the repulsive wall have forces of tens of eV/A and, like pacemaker's
#: augmented data, get little weight in the fit; a held-out one would dominate every error).
TRAINING_ONLY_KINDS = ('compressed',)


def structure_kind(key: str) -> str:
    """Return the kind of a labelled structure from its key: the generation method, or ``explored``."""
    if key.startswith('it') and '_run_' in key:
        return 'explored'
    return key.split('_', 1)[0]


def split_held_out(
    strata: dict[str, tuple], fraction: float, kinds_held, seed: int, labels_before: int = 0, held_before: int = 0
) -> list[str]:
    """Return the keys of a labelled batch to hold out (never trained on), stratified and seeded.

    ``strata`` maps each key to its stratum, a tuple whose first item is the kind (e.g. ``(kind,
    composition, temperature)``). The held-out set is kept at about ``fraction`` of every label so
    far: of ``labels_before`` earlier labels ``held_before`` were held out, and this batch gives what
    brings the whole to ``fraction`` (rounded), never its last label, and at least one while the
    held-out set is empty. A batch of two frames thus goes to training unless the set falls behind,
    instead of giving half of its labels away. A kind with at least :data:`HELD_OUT_MIN_KIND_SIZE`
    labels here and none in ``kinds_held`` (the kinds the held-out set already has) gives one first
    (beyond that share if need be); the rest is drawn
    round-robin over the strata, largest first, at random within each, so the held-out set
    follows the composition, temperature and kind mix of what was labelled. Kinds of
    :data:`TRAINING_ONLY_KINDS` are never held out.
    """
    import numpy as np

    keys = sorted(key for key in strata if strata[key][0] not in TRAINING_ONLY_KINDS)
    if len(keys) < 2 or fraction <= 0:
        return []
    wanted = round(fraction * (labels_before + len(keys))) - held_before
    target = min(len(keys) - 1, max(0 if held_before else 1, wanted))
    rng = np.random.default_rng(seed)
    groups: dict[tuple, list[str]] = {}
    for key in keys:
        groups.setdefault(tuple(strata[key]), []).append(key)
    for members in groups.values():
        members[:] = [members[i] for i in rng.permutation(len(members))]
    chosen: list[str] = []
    by_kind: dict[str, list[tuple]] = {}
    for stratum in sorted(groups, key=str):
        by_kind.setdefault(stratum[0], []).append(stratum)
    for kind, kind_strata in sorted(by_kind.items()):
        if kind in kinds_held or sum(len(groups[s]) for s in kind_strata) < HELD_OUT_MIN_KIND_SIZE:
            continue
        largest = max(kind_strata, key=lambda s: (len(groups[s]), str(s)))
        chosen.append(groups[largest].pop())
    while len(chosen) < target:
        open_strata = sorted((s for s in groups if groups[s]), key=lambda s: (-len(groups[s]), str(s)))
        if not open_strata:
            break
        for stratum in open_strata:
            if len(chosen) >= target:
                break
            chosen.append(groups[stratum].pop())
    return sorted(chosen)
