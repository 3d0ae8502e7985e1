"""Calcfunctions of the campaign: how data changed between iterations is recorded on the graph."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ..data import TrainingSet


@calcfunction
def merge_training_sets(**training_sets) -> TrainingSet:
    """Merge training sets in key order; a configuration present in several is kept once."""
    merged = None
    for key in sorted(training_sets):
        merged = training_sets[key] if merged is None else merged.merge(training_sets[key])
    return TrainingSet(frames=merged.to_atoms()) if merged is not None else TrainingSet(frames=[])


@calcfunction
def summarise_campaign(summary: orm.Dict) -> orm.Dict:
    """Record the per-iteration table of the campaign (labels, errors, gamma statistics, state)."""
    return orm.Dict(summary.get_dict())
