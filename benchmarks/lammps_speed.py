"""MD speed of one ACE potential: LAMMPS ``pace/extrapolation`` vs plain ``pace`` vs pyace's ASE calculator.

Same potential (the Cu-Au fixture of the training tests unless ``--potential`` names a folder with
potential.yaml/.yace/.asi), same cell (fcc Cu-Au, 25 % Au, ``--repeat`` conventional cells), same
NVT MD at 300 K, one thread each, in one run. Prints atom-steps per second and the ratios the
exploration cares about (goals: LAMMPS >= 4x pyace-in-ASE; gamma every 10 steps costs <= 10 %
over plain pace)::

    .venv/bin/python benchmarks/lammps_speed.py [--repeat 4] [--steps 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'src'))

from aiida_mlip_autopipe.exploration.inputs import pair_species, write_data_file  # noqa: E402
from aiida_mlip_autopipe.setup import default_executable  # noqa: E402

LOOP_PATTERN = re.compile(r'Loop time of ([0-9.eE+-]+) on')


def cuau_cell(repeat: int, seed: int = 0):
    """fcc Cu-Au with 25 % Au on random sites at Vegard's lattice parameter (EMT values)."""
    atoms = bulk('Cu', 'fcc', a=3.59 * 0.75 + 4.055 * 0.25, cubic=True).repeat(repeat)
    atoms.symbols[np.random.default_rng(seed).permutation(len(atoms))[: len(atoms) // 4]] = 'Au'
    return atoms


def lammps_rate(lmp: str, folder: Path, pair_lines: list[str], gamma_every: int | None, steps: int, natoms: int):
    """Run NVT in LAMMPS; return atom-steps per second from the loop time."""
    lines = [
        'units metal',
        'atom_style atomic',
        'boundary p p p',
        'read_data structure.data',
        *pair_lines,
        'neighbor 1.0 bin',
        'timestep 0.001',
        'velocity all create 300 4711 dist gaussian mom yes rot yes',
        'fix md all nvt temp 300 300 0.1',
    ]
    if gamma_every:
        lines += [
            f'fix gamma all pair {gamma_every} pace/extrapolation gamma 1',
            'compute max_gamma all reduce max f_gamma',
            f'thermo {gamma_every * 10}',
            'thermo_style custom step temp pe c_max_gamma',
        ]
    else:
        lines += ['thermo 100']
    lines += ['run 20', f'run {steps}']  # the first short run warms up (neighbour lists, allocation)
    (folder / 'bench.in').write_text('\n'.join(lines) + '\n')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    result = subprocess.run(
        [lmp, '-nocite', '-in', 'bench.in', '-log', 'bench.log', '-screen', 'none'],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log = (folder / 'bench.log').read_text() if (folder / 'bench.log').exists() else ''
    times = LOOP_PATTERN.findall(log)
    if result.returncode or len(times) < 2:
        raise RuntimeError(f'lmp failed ({result.returncode}): {log[-800:]}{result.stderr[-400:]}')
    return natoms * steps / float(times[-1])


def ase_rate(potential_dir: Path, atoms, steps: int, active_set: bool):
    """Run NVT (Langevin) with pyace's PyACECalculator in ASE; return atom-steps per second."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    atoms = atoms.copy()
    calculator = PyACECalculator(BBasisConfiguration(str(potential_dir / 'potential.yaml')))
    if active_set:
        calculator.set_active_set(str(potential_dir / 'potential.asi'))
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = Langevin(
        atoms, 1.0 * units.fs, temperature_K=300, friction=0.01, fixcm=False, rng=np.random.default_rng(1)
    )
    dynamics.run(5)
    start = time.perf_counter()
    dynamics.run(steps)
    return len(atoms) * steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--potential', type=Path, default=ROOT / 'tests' / 'fixtures' / 'ace_cuau')
    parser.add_argument('--repeat', type=int, default=4, help='conventional fcc cells per direction (4 -> 256 atoms)')
    parser.add_argument('--steps', type=int, default=2000, help='LAMMPS MD steps')
    parser.add_argument('--ase-steps', type=int, default=100, help='pyace-in-ASE MD steps')
    parser.add_argument('--lmp', default=None, help='lmp executable (default: the one `make setup` builds)')
    parser.add_argument('--repeats', type=int, default=3, help='runs of each variant; the fastest counts')
    parser.add_argument('--json', type=Path, default=None, help='also write the figures here')
    args = parser.parse_args(argv)
    os.environ['OMP_NUM_THREADS'] = '1'

    lmp = args.lmp or default_executable('lmp')
    atoms = cuau_cell(args.repeat)
    elements = sorted(set(atoms.get_chemical_symbols()))
    plain = ['pair_style pace', f'pair_coeff * * {args.potential / "potential.yace"} {" ".join(elements)}']
    extrapolation = [
        'pair_style pace/extrapolation',
        f'pair_coeff * * {args.potential / "potential.yaml"} {args.potential / "potential.asi"} {" ".join(elements)}',
    ]
    product = ['pair_style pace product', plain[1]]
    rates = {}
    best = lambda run: max(run() for _ in range(args.repeats))  # noqa: E731  (the least disturbed run)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / 'structure.data').write_text(write_data_file(atoms, pair_species(plain)))
        n, steps = len(atoms), args.steps
        rates['lammps pace (recursive)'] = best(lambda: lammps_rate(lmp, folder, plain, None, steps, n))
        rates['lammps pace product'] = best(lambda: lammps_rate(lmp, folder, product, None, steps, n))
        rates['lammps pace/extrapolation, gamma every 10'] = best(
            lambda: lammps_rate(lmp, folder, extrapolation, 10, steps, n)
        )
        rates['lammps pace/extrapolation, gamma every step'] = best(
            lambda: lammps_rate(lmp, folder, extrapolation, 1, steps // 4, n)
        )
    rates['pyace ASE calculator'] = best(lambda: ase_rate(args.potential, atoms, args.ase_steps, active_set=False))
    rates['pyace ASE calculator, gamma every step'] = best(
        lambda: ase_rate(args.potential, atoms, args.ase_steps, active_set=True)
    )

    print(f'{len(atoms)} atoms, {args.potential.name}, one thread, best of {args.repeats}; atom-steps per second:')
    for name, rate in rates.items():
        print(f'  {name:50s} {rate:12.0f}')
    gamma10 = rates['lammps pace/extrapolation, gamma every 10']
    fastest_plain = max(rates['lammps pace (recursive)'], rates['lammps pace product'])
    ratios = {
        'extrapolation (gamma/10) vs pyace ASE': gamma10 / rates['pyace ASE calculator'],
        'gamma/10 cost over fastest plain pace (%)': 100 * (fastest_plain / gamma10 - 1),
        'gamma every step cost over fastest plain pace (%)': 100
        * (fastest_plain / rates['lammps pace/extrapolation, gamma every step'] - 1),
    }
    for name, value in ratios.items():
        print(f'  {name:50s} {value:12.2f}')
    if args.json:
        args.json.write_text(json.dumps({'atoms': len(atoms), 'rates': rates, 'ratios': ratios}, indent=1))


if __name__ == '__main__':
    main()
