"""Calcfunctions of the screening stage: the graph records why each candidate was kept or dropped."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ..data import TrainingSet
from .selection import ScreeningThresholds, screen


@calcfunction
def select_candidates(
    labels: TrainingSet,
    descriptors: orm.ArrayData,
    surrogate_parameters: orm.Dict,
    max_force: orm.Float,
    min_distance: orm.Float,
    energy_window: orm.Float,
    duplicate_tolerance: orm.Float,
    seed: orm.Int,
    num_select: orm.Int | None = None,
    relaxed_labels: TrainingSet | None = None,
) -> dict[str, orm.Dict]:
    """Drop unphysical candidates and duplicates, then select a diverse subset (farthest-point sampling).

    The distance and force filters look at ``labels`` (the candidates as generated); the energy
    window, duplicates and selection look at ``relaxed_labels`` when given (the geometries that
    will be labelled), otherwise at ``labels``. Candidates are identified by their ``config_type``.
    Candidates the surrogate could not evaluate (``surrogate_parameters['failed']``) are rejected.

    Returns
    -------
    dict
        ``selection``: ``selected`` (keys in pick order), ``metrics`` per key and the thresholds;
        ``rejected``: key -> reason, for every candidate not selected.
    """
    thresholds = ScreeningThresholds(
        max_force=max_force.value,
        min_distance=min_distance.value,
        energy_window=energy_window.value,
        duplicate_tolerance=duplicate_tolerance.value,
    )
    initial = {atoms.info['config_type']: atoms for atoms in labels.iter_atoms()}
    final = {atoms.info['config_type']: atoms for atoms in relaxed_labels.iter_atoms()} if relaxed_labels else initial
    vectors = {key: descriptors.get_array(key) for key in descriptors.get_arraynames()}
    result = screen(
        final,
        vectors,
        thresholds,
        count=None if num_select is None else num_select.value,
        seed=seed.value,
        failures=surrogate_parameters.get('failed', {}),
        check_frames=initial,
    )
    selection = {
        'selected': result.selected,
        'metrics': result.metrics,
        'thresholds': {
            'max_force': thresholds.max_force,
            'min_distance': thresholds.min_distance,
            'energy_window': thresholds.energy_window,
            'duplicate_tolerance': thresholds.duplicate_tolerance,
            'num_select': None if num_select is None else num_select.value,
            'seed': seed.value,
        },
    }
    return {'selection': orm.Dict(selection), 'rejected': orm.Dict(dict(sorted(result.rejected.items())))}
