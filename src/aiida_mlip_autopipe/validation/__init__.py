"""Validation stage: does a potential reproduce the physics of its own labeller?

Pure property helpers (:mod:`.eos`, :mod:`.properties`, :mod:`.report`), calcfunctions
(:mod:`.functions`), the EOS plot (:mod:`.plot`) and ``ValidationWorkChain`` (:mod:`.workchain`).
"""
