"""Load time of a stored ``TrainingSet`` against ``ase.io`` extxyz for the same data, same run.

Writes 10,000 configurations of 32 atoms (random positions, energies, forces, stresses), stores
them as a ``TrainingSet`` node in a temporary profile, then times loading them back as ASE atoms
from the node and reading the same configurations from an extxyz file. Goal: the node loads in
at most 5 s and at least 2x faster than extxyz.

Usage: ``python benchmarks/training_set_io.py [--count 10000] [--atoms 32]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from throwaway_profile import throwaway_profile


def random_frames(count: int, natoms: int, seed: int = 0) -> list[Atoms]:
    """Return ``count`` labelled random Cu-Au configurations of ``natoms`` atoms."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = Atoms(
            numbers=rng.choice([29, 79], size=natoms),
            positions=rng.random((natoms, 3)) * 8.0,
            cell=np.eye(3) * 8.0,
            pbc=True,
        )
        atoms.calc = SinglePointCalculator(
            atoms, energy=rng.normal(), forces=rng.normal(size=(natoms, 3)), stress=rng.normal(size=6)
        )
        frames.append(atoms)
    return frames


def best_of(function, repeat: int) -> float:
    """Return the shortest wall time of ``repeat`` calls of ``function``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--count', type=int, default=10000)
    parser.add_argument('--atoms', type=int, default=32)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()

    frames = random_frames(args.count, args.atoms)
    with throwaway_profile('training-set-io-benchmark') as tmp:
        from aiida.orm import load_node

        from aiida_mlip_autopipe.data import TrainingSet

        start = time.perf_counter()
        pk = TrainingSet(frames=frames).store().pk
        store_time = time.perf_counter() - start
        extxyz = Path(tmp) / 'frames.extxyz'
        start = time.perf_counter()
        ase.io.write(extxyz, frames, format='extxyz')
        write_time = time.perf_counter() - start

        node_time = best_of(lambda: load_node(pk).to_atoms(), args.repeat)
        extxyz_time = best_of(lambda: ase.io.read(extxyz, index=':', format='extxyz'), args.repeat)
        loaded = load_node(pk).to_atoms()
        assert len(loaded) == args.count and np.allclose(loaded[-1].get_forces(), frames[-1].get_forces())

    print(f'{args.count} configurations x {args.atoms} atoms (best of {args.repeat})')
    print(f'  store TrainingSet        {store_time:7.2f} s   write extxyz {write_time:7.2f} s')
    print(f'  load  TrainingSet        {node_time:7.2f} s   (goal <= 5 s)')
    print(f'  read  ase.io extxyz      {extxyz_time:7.2f} s')
    print(f'  speed-up over extxyz     {extxyz_time / node_time:7.1f} x  (goal >= 2 x)')


if __name__ == '__main__':
    main()
