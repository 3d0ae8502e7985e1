"""The MD stability runs of a validation: which cells, temperatures and seeds, the MD cells and their settings.

Pure (no AiiDA): the work chain plans with it, the calcfunctions make the MD cells with it and the
``md_stability_runs`` task (:mod:`.tasks`) runs the plan in a job.
"""

from __future__ import annotations

import math

from ase import Atoms

from .cells import cell_kind
from .properties import conventional_cell, scaled_to_volume

#: The MD stability runs go at the highest temperature and at this factor above it.
MD_TEMPERATURE_FACTORS = (1.0, 1.2)
#: At least this many MD stability runs: cells and temperatures are repeated with new seeds until reached.
MD_MIN_RUNS = 4
#: Smallest MD cell (atoms) with LAMMPS, and of the pyace-in-ASE fallback.
MD_ATOMS_LAMMPS = 256
MD_ATOMS_ASE = 32
#: Steps between the extrapolation-grade evaluations of a LAMMPS run.
GAMMA_EVERY = 10


def md_repeats(atoms: Atoms, min_atoms: int) -> int:
    """Return the repeats per direction of the conventional cell that give at least ``min_atoms`` atoms."""
    return max(1, math.ceil((min_atoms / len(atoms)) ** (1 / 3) - 1e-9))


def md_cell(name: str, atoms: Atoms, volume_per_atom: float, min_atoms: int) -> Atoms:
    """Return the MD cell of validation cell ``name``: its conventional cell at ``volume_per_atom`` (the
    potential's equilibrium) repeated to at least ``min_atoms`` atoms."""
    conventional = conventional_cell(name, scaled_to_volume(atoms, volume_per_atom))
    return conventional.repeat(md_repeats(conventional, min_atoms))


def md_plan(settings: dict) -> list[dict]:
    """Return the MD stability runs: every validation cell at every temperature, repeated with new seeds
    until there are at least :data:`MD_MIN_RUNS`; swaps on for the cells with two or more elements.

    Each run: ``index``, ``cell``, ``temperature`` (K), ``seed`` and ``swaps`` (``{'every',
    'attempts'}`` or ``None``).
    """
    cells = settings['cells']
    temperatures = settings['temperatures']
    if not cells or not temperatures:
        return []
    repeats = math.ceil(MD_MIN_RUNS / (len(cells) * len(temperatures)))
    runs = []
    for _ in range(repeats):
        for temperature in temperatures:
            for name in cells:
                mixed = cell_kind(name, settings['elements']) != 'element'
                swapping = mixed and settings['md_swap_every'] > 0 and settings['md_swap_attempts'] > 0
                runs.append(
                    {
                        'index': len(runs),
                        'cell': name,
                        'temperature': float(temperature),
                        'seed': int(settings['seed']) + len(runs) + 1,
                        'swaps': {'every': settings['md_swap_every'], 'attempts': settings['md_swap_attempts']}
                        if swapping
                        else None,
                    }
                )
    return runs


def md_steps(settings: dict) -> int:
    """Return the steps of each run, rounded up to a multiple of the gamma interval (:data:`GAMMA_EVERY`)."""
    return -(-int(settings['md_steps']) // GAMMA_EVERY) * GAMMA_EVERY


def lammps_md_parameters(settings: dict, run: dict) -> dict:
    """Return the ``LammpsMdWorkChain`` parameters of one stability run (NVT, halting above
    ``gamma_halt``, Monte Carlo swaps of every pair of types when ``run['swaps']``)."""
    parameters = {
        'ensemble': 'nvt',
        'temperature': float(run['temperature']),
        'steps': md_steps(settings),
        'timestep_fs': float(settings['md_timestep_fs']),
        'gamma_lower': 0.9 * float(settings['gamma_halt']),
        'gamma_upper': float(settings['gamma_halt']),
        'gamma_every': GAMMA_EVERY,
        'dump_every': 10 * GAMMA_EVERY,
        'seed': int(run['seed']),
    }
    if run['swaps']:
        parameters['swap_every'] = int(run['swaps']['every'])
        parameters['swap_attempts'] = int(run['swaps']['attempts'])  # per pair of elements
    return parameters
