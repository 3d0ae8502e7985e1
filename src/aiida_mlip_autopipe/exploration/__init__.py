"""Exploration: extrapolation-grade MD in LAMMPS (ML-PACE) and selection of the frames to label next.

Pure helpers: :mod:`.inputs` (LAMMPS data file and input script), :mod:`.outputs` (dump, gamma
series and log parsers, run summary), :mod:`.selection` (ACE descriptors, farthest-point selection
without near duplicates), :mod:`.lammps` (is this ``lmp`` able to run it). AiiDA glue:
:class:`.calculations.LammpsMdCalculation`, :class:`.parsers.LammpsMdParser`, the calcfunctions in
:mod:`.functions` and :class:`.workchain.ExplorationWorkChain`.
"""
