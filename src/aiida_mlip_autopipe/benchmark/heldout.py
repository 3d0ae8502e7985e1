"""The held-out test set of the selection benchmark: MD driven by the labeller itself.

Independent of any potential: Langevin MD with the labeller's own ASE calculator over the
campaign's compositions and temperatures, plus strained and vacancy cells, so it contains the
hard ground (highest temperature, strain, vacancies) that exploration reaches. Never trained on.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.data import atomic_numbers, reference_states
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from ..labelling.ase_labeller import get_ase_calculator, label_atoms

LOGGER = logging.getLogger(__name__)


def alloy_cell(composition: dict[str, float], repeat: int, rng: np.random.Generator) -> Atoms:
    """Return a random fcc alloy of ``composition`` ({element: fraction}), ``4 * repeat**3`` atoms.

    The lattice parameter follows Vegard's law between the elements' reference fcc parameters.
    """
    elements = [symbol for symbol, fraction in composition.items() if fraction > 0]
    a = sum(composition[s] * reference_states[atomic_numbers[s]]['a'] for s in elements) / sum(
        composition[s] for s in elements
    )
    atoms = bulk(elements[0], 'fcc', a=a, cubic=True).repeat(repeat)
    counts = [round(composition[s] * len(atoms)) for s in elements]
    counts[0] = len(atoms) - sum(counts[1:])
    symbols = np.repeat(elements, counts)
    atoms.set_chemical_symbols(list(rng.permutation(symbols)))
    return atoms


def labeller_md(
    atoms: Atoms, calculator: str, temperature: float, steps: int, every: int, rng: np.random.Generator, skip: int = 0
) -> list[Atoms]:
    """Return Langevin MD frames (2 fs step) of the labeller's calculator, every ``every`` steps after ``skip``."""
    atoms = atoms.copy()
    atoms.calc = get_ase_calculator(calculator)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dynamics = Langevin(
        atoms, 2.0 * units.fs, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False, rng=rng
    )
    frames = []
    for step in range(1, steps + 1):
        dynamics.run(1)
        if step > skip and step % every == 0:
            frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell, pbc=True)
            frames.append(frame)
    return frames


def heldout_frames(
    compositions: list[dict[str, float]],
    temperatures: list[float],
    calculator: str = 'emt',
    seed: int = 0,
    repeat: int = 2,
    steps: int = 300,
    every: int = 30,
    skip: int = 100,
    strains: tuple[float, ...] = (-0.04, 0.04),
) -> list[Atoms]:
    """Return labelled held-out frames over ``compositions`` and ``temperatures``.

    For each composition: labeller MD at every temperature; MD of a cell with one vacancy and of
    cells under each volumetric ``strains`` (plus a random shear of up to 2 %) at the highest
    temperature. Each frame has ``info['kind']`` (``md``, ``vacancy``, ``strain``) and ``info['temperature']``.
    """
    rng = np.random.default_rng(seed)
    hottest = max(temperatures)
    frames = []

    def add(batch, kind, temperature):
        for atoms in batch:
            atoms.info.update(kind=kind, temperature=float(temperature))
        frames.extend(batch)

    for composition in compositions:
        cell = alloy_cell(composition, repeat, rng)
        for temperature in temperatures:
            add(labeller_md(cell, calculator, temperature, steps, every, rng, skip), 'md', temperature)
        vacancy = cell.copy()
        del vacancy[int(rng.integers(len(vacancy)))]
        add(labeller_md(vacancy, calculator, hottest, steps, every, rng, skip), 'vacancy', hottest)
        for strain in strains:
            strained = cell.copy()
            shear = rng.uniform(-0.02, 0.02, size=(3, 3))
            deformation = np.eye(3) * (1 + strain) ** (1 / 3) + (shear + shear.T) / 2
            strained.set_cell(strained.cell.array @ deformation, scale_atoms=True)
            add(labeller_md(strained, calculator, hottest, steps, every, rng, skip), 'strain', hottest)
    LOGGER.info('held-out set: %d frames', len(frames))
    return label_atoms(frames, calculator)
