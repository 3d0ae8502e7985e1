"""Exploration: extrapolation-grade MD in LAMMPS (ML-PACE) and selection of the frames to label next.

Pure helpers: :mod:`.inputs` (LAMMPS data file and input script), :mod:`.outputs` (dump, gamma
series and log parsers, run summary), :func:`.parsers.read_md_run` (what a run produced),
:mod:`.selection` (ACE descriptors, farthest-point selection without near duplicates),
:mod:`.lammps` (is this ``lmp`` able to run it). AiiDA glue: :class:`.md.LammpsMdWorkChain` (one
MD run through aiida-lammps' ``lammps.raw`` CalcJob, parsed by :class:`.parsers.LammpsRawMdParser`),
the calcfunctions in :mod:`.functions` (the run's files, its gamma parsing, the selection) and
:class:`.workchain.ExplorationWorkChain`.
"""
