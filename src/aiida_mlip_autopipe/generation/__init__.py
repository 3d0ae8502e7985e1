"""Generation stage: candidate structures (SQS, ordered cells, distortions, defects, surfaces) from a spec.

The builders (:mod:`.builders`, :mod:`.sqs`, :mod:`.plan`) are pure functions on ASE objects (the
duplicate search is :mod:`aiida_mlip_autopipe.common.duplicates`); :mod:`.functions` wraps them in
calcfunctions and :mod:`.workchain` composes those.
"""

from .spec import METHODS, GenerationSpec, validate_spec

__all__ = ['METHODS', 'GenerationSpec', 'validate_spec']
