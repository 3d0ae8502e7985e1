"""MD robustness of the benchmark's potentials: NPT runs in LAMMPS with ``pair_style pace/extrapolation``.

The input is the exploration stage's own (``exploration.inputs.write_md_input`` and
``write_data_file``; the outputs are read with ``exploration.outputs``), so a run halts on the
campaign's guards: the largest extrapolation grade above ``gamma_upper``, an extreme pressure,
atoms closer than ``min_distance``, lost atoms or a runaway temperature. A run *fails* when it does
not reach its last step for any of these reasons or LAMMPS stops with an error; the *time to
gamma_upper* is the MD time of the first gamma sample above ``gamma_upper`` (censored at the run length).

Cells: 256-atom quasi-random fcc alloys (:func:`quasi_random_cell`: pair correlations of the
first three neighbour shells brought to those of the random alloy by atom swaps) and the same
with one vacancy.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from ase import Atoms

from .pool import fcc_cell

#: fcc neighbour shells used by :func:`quasi_random_cell` (distances in units of the lattice parameter).
SHELLS = (np.sqrt(0.5), 1.0, np.sqrt(1.5))


def quasi_random_cell(elements, x: float, rng: np.random.Generator, repeat: int = 4, sweeps: int = 4000) -> Atoms:
    """Return a ``4 * repeat**3``-atom fcc cell with fraction ``x`` of ``elements[1]`` close to the random alloy.

    Starting from a random arrangement, swaps of unlike atoms are kept when they bring the pair
    correlations (spin products) of the first three shells closer to the random alloy's (2x - 1)^2.
    """
    cell = fcc_cell(elements, x, 'random', rng, repeat=repeat)
    a = cell.cell[0, 0] / repeat
    distances = cell.get_all_distances(mic=True) / a
    shells = [(np.abs(distances - d) < 0.05).astype(float) for d in SHELLS]
    spins = np.where(np.array(cell.get_chemical_symbols()) == elements[1], 1.0, -1.0)
    target = (2 * x - 1) ** 2

    def mismatch(s):
        return sum((s @ shell @ s / shell.sum() - target) ** 2 for shell in shells)

    best = mismatch(spins)
    for _ in range(sweeps):
        i, j = rng.integers(len(spins), size=2)
        if spins[i] == spins[j]:
            continue
        spins[i], spins[j] = spins[j], spins[i]
        value = mismatch(spins)
        if value <= best:
            best = value
        else:
            spins[i], spins[j] = spins[j], spins[i]
    cell.set_chemical_symbols([elements[1] if s > 0 else elements[0] for s in spins])
    cell.info['correlation_mismatch'] = float(best)
    return cell


def md_cells(elements, seeds, repeat: int = 4) -> list[tuple[str, Atoms]]:
    """Return the MD cells: per seed one quasi-random cell (x cycling through 0.25, 0.5, 0.75) and the same
    with one vacancy; named ``sqs-<seed>`` and ``vacancy-<seed>``."""
    cells = []
    for k, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, 11])
        cell = quasi_random_cell(elements, (0.25, 0.5, 0.75)[k % 3], rng, repeat=repeat)
        vacancy = cell.copy()
        del vacancy[int(rng.integers(len(vacancy)))]
        cells += [(f'sqs-{seed}', cell), (f'vacancy-{seed}', vacancy)]
    return cells


def run_md(
    lmp: str,
    yaml_path: Path,
    asi_path: Path,
    species: list[str],
    atoms: Atoms,
    folder: Path,
    temperature: float,
    picoseconds: float,
    gamma_lower: float,
    gamma_upper: float,
    seed: int,
    timestep_fs: float = 2.0,
    gamma_every: int = 20,
    timeout: float = 3600.0,
) -> dict:
    """Run one NPT run (0 GPa) of ``atoms`` and return how it ended.

    Returns the exploration summary (``exploration.outputs.summarise_run``) plus ``failed``,
    ``time_to_gamma_upper_ps`` (``None`` if gamma never exceeded ``gamma_upper``), ``simulated_ps``
    and ``wall_s``. Raises ``RuntimeError`` when LAMMPS never starts the run (missing files, bad
    input): that is a broken set-up, not a failure of the potential.
    """
    from ..exploration.inputs import MdParameters, write_data_file, write_md_input
    from ..exploration.outputs import parse_log, parse_series, summarise_run

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = max(1, round(picoseconds * 1000 / timestep_fs / gamma_every)) * gamma_every
    parameters = MdParameters(
        ensemble='npt',
        temperature=temperature,
        steps=steps,
        timestep_fs=timestep_fs,
        gamma_lower=gamma_lower,
        gamma_upper=gamma_upper,
        gamma_every=gamma_every,
        dump_every=steps,
        seed=seed,
    )
    yaml_path, asi_path = Path(yaml_path).resolve(), Path(asi_path).resolve()
    pair_lines = ['pair_style pace/extrapolation', f'pair_coeff * * {yaml_path} {asi_path} {" ".join(species)}']
    types = sorted({species.index(symbol) + 1 for symbol in atoms.get_chemical_symbols()})
    (folder / 'structure.data').write_text(write_data_file(atoms, species))
    (folder / 'md.in').write_text(write_md_input(parameters, pair_lines, len(atoms), types))
    environment = {**os.environ, 'OMP_NUM_THREADS': '1'}
    try:
        process = subprocess.run(
            [lmp, '-in', 'md.in', '-log', 'log.lammps', '-screen', 'none'],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        returncode = 'timeout'
    text = (folder / 'log.lammps').read_text() if (folder / 'log.lammps').exists() else ''
    if 'Per MPI rank memory' not in text:  # the run never started: the set-up is wrong, not the potential
        raise RuntimeError(f'LAMMPS did not start the run in {folder} (exit {returncode}): {text[-800:]}')
    log = parse_log(text)
    series_file = folder / 'gamma.dat'
    series = parse_series(series_file.read_text() if series_file.exists() else '')
    summary = summarise_run(series, log, steps, gamma_lower, gamma_upper, temperature, 0)
    above = np.flatnonzero(series['max_gamma'] > gamma_upper)
    first = float(series['step'][above[0]]) * timestep_fs / 1000 if len(above) else None
    failed = bool(
        returncode != 0 or not summary['completed'] or summary['exploded'] or summary['lost_atoms'] or log.errors
    )
    return {
        **{k: summary[k] for k in ('completed', 'halted', 'halt_reason', 'max_gamma', 'max_temperature', 'errors')},
        'returncode': returncode,
        'failed': failed,
        'time_to_gamma_upper_ps': first,
        'simulated_ps': summary['steps_done'] * timestep_fs / 1000,
        'wall_s': log.wall_time_s,
    }
