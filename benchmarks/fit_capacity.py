"""Can the fit reproduce its own labels? pacemaker variants on a small pw.x training set of one element.

A campaign's potential can only pass the validation's bulk modulus (5 %) if the fit reproduces the
energies of its training set to a few meV/atom. This script labels with pw.x a set like a campaign's
first batch for one element (its reference crystal in the conventional cell: the equation-of-state
series, random strains, rattled cells, a vacancy), then fits it with pacemaker in several variants
of the campaign's fit parameters and prints, per variant:

* ``train E`` / ``train F``: pacemaker's own training errors (meV/atom, meV/A);
* ``EOS E``: the largest energy error of the potential along the DFT equation of state
  (meV/atom, relative to the series' minimum, so a constant offset does not count);
* ``B err``: the potential's bulk modulus against the DFT one (Birch-Murnaghan on the volumes of the
  DFT series);
* ``a``, ``B``, ``C11``, ``C12``: the potential's lattice parameter and elastic constants of the
  element's cubic cell (energy curvature under +-1 % strains), to compare with a validation table;
* ``functions``: basis functions per rank (rank 1 = pair functions);
* ``s``: wall seconds of the fit.

Labels are cached in ``--workdir`` (keyed by element, distance and protocol), so a second run fits only.
``--frames FILE`` fits a training set of its own instead (e.g. a campaign's exported
``training_set.extxyz``); the columns that need the DFT series are then left out. ``--functions N ...``
adds the base fit with N functions per element to the variants.
pw.x runs one MPI process per structure, two structures at a time; pacemaker one at a time.

Usage (after ``make setup``; nothing else running)::

    .venv/bin/python benchmarks/fit_capacity.py --pacemaker PACEMAKER [--element Si] [--kpoints-distance 0.45]
        [--frames training_set.extxyz] [--variants base ...] [--functions 32 48 ...]
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from ase.build import bulk
from ase.io import read, write

from aiida_mlip_autopipe.benchmark.pw_ase import run_pw
from aiida_mlip_autopipe.labelling.protocol import kpoint_mesh
from aiida_mlip_autopipe.training.pacemaker_io import (
    PacemakerParameters,
    write_pacemaker_dataframe,
    write_pacemaker_input,
)
from aiida_mlip_autopipe.training.workchain import PacemakerWorkChain
from aiida_mlip_autopipe.validation.eos import VOLUME_STRAINS, fit_eos, strained_series

sys.path.insert(0, str(Path(__file__).parent))
from kpoint_noise import pw_parameters

#: The fit of the Si campaign (examples/campaign_si.yaml): the balanced protocol with 24 functions and 300
#: iterations, no test split (every label is scored).
BASE = {
    **PacemakerWorkChain.get_protocol_inputs('balanced')['pacemaker']['parameters'],
    'number_of_functions_per_element': 24,
    'maxiter': 300,
    'test_size': 0.0,
}
#: Variant name -> changes to BASE.
VARIANTS = {
    'base': {},
    'no-weights': {'weighting': None},
    'kappa-0.3': {'force_weight': 0.3},
    'linear': {'embedding': 'linear'},
    'no-repulsion': {'repulsion': False},
    'few-pairs': {'basis_shape': {'ALL': {'nradmax_by_orders': [6, 4, 3, 2], 'lmax_by_orders': [0, 3, 2, 1]}}},
    '60-functions': {'number_of_functions_per_element': 60},
    '1000-iterations': {'maxiter': 1000},
}


def training_structures(element: str, seed: int = 3):
    """Return the structures to label: EOS series, random strains, rattles and a vacancy of the conventional cell."""
    rng = np.random.default_rng(seed)
    cell = bulk(element, cubic=True)
    if len(cell) < 4:
        cell = cell.repeat((2, 2, 2))
    frames = strained_series(cell, (-0.12, *VOLUME_STRAINS, 0.12))
    for _ in range(6):
        strained = cell.copy()
        strain = rng.uniform(-0.03, 0.03, (3, 3))
        strained.set_cell(cell.cell @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        frames.append(strained)
    for stdev in (0.03, 0.03, 0.03, 0.08, 0.08, 0.08):
        rattled = strained_series(cell, [rng.uniform(-0.04, 0.04)])[0]
        rattled.rattle(stdev, seed=int(rng.integers(1 << 30)))
        frames.append(rattled)
    vacancy = cell.copy()
    del vacancy[0]
    vacancy.rattle(0.03, seed=1)
    frames.append(vacancy)
    return frames


def label(job):
    """Label one structure with pw.x in its own folder; return it with energy, forces and stress."""
    atoms, distance, input_data, pseudos, folder = job
    folder.mkdir(parents=True, exist_ok=True)
    input_data = copy.deepcopy(input_data)
    input_data['control'].update(tprnfor=True, tstress=True)
    run_pw(atoms, input_data, pseudos, kpoint_mesh(atoms, distance), folder)
    return read(folder / 'espresso.pwo')


def labelled_set(element: str, distance: float, protocol: str, workdir: Path):
    """Return the labelled structures, from the cache in ``workdir`` if it has them."""
    cache = workdir / f'labels-{element}-{distance}-{protocol}.extxyz'
    if cache.exists():
        return read(cache, index=':')
    input_data, pseudos = pw_parameters(protocol, [element])
    structures = training_structures(element)
    jobs = [(atoms, distance, input_data, pseudos, workdir / f'pw-{index}') for index, atoms in enumerate(structures)]
    start = time.time()
    with ProcessPoolExecutor(2) as pool:
        frames = list(pool.map(label, jobs))
    print(f'labelled {len(frames)} structures in {time.time() - start:.0f} s')
    write(cache, frames)
    return frames


#: Run by the pacemaker environment's Python in a fit's folder, with the element as argument: the
#: potential's energies and forces of ``frames.extxyz``, and its lattice parameter, bulk modulus, C11
#: and C12 of the element's cubic reference cell (energy curvature under volume and uniaxial strains
#: of +-1 %; diamond and fcc need no internal relaxation for these two).
EVALUATE = """
import sys
import numpy as np
from ase.build import bulk
from ase.io import read
from ase.units import GPa
from pyace import PyACECalculator
calculator = PyACECalculator('output_potential.yaml')
energies, forces = [], []
for atoms in read('frames.extxyz', index=':'):
    atoms.calc = calculator
    energies.append(atoms.get_potential_energy())
    forces.append(atoms.get_forces())
reference = bulk(sys.argv[1], cubic=True)
def energy(scale, strain):
    atoms = reference.copy()
    atoms.set_cell(atoms.cell @ (scale * (np.eye(3) + strain)), scale_atoms=True)
    atoms.calc = calculator
    return atoms.get_potential_energy()
scales = np.linspace(0.97, 1.03, 25)
fit = np.polyfit(scales, [energy(x, np.zeros((3, 3))) for x in scales], 4)
roots = np.roots(np.polyder(fit))
scale = min(roots[np.isreal(roots)].real, key=lambda root: abs(root - 1))
volume = reference.get_volume() * scale**3
strains = np.linspace(-0.01, 0.01, 9)
def modulus(direction):
    curve = np.polyfit(strains, [energy(scale, x * direction) for x in strains], 4)
    return 2 * curve[2] / volume / GPa
c11 = modulus(np.diag([1.0, 0.0, 0.0]))
bulk_modulus = modulus(np.eye(3)) / 9
np.savez('predicted.npz', energies=np.array(energies), forces=np.concatenate(forces),
         elastic=[reference.cell[0, 0] * scale, bulk_modulus, c11, (3 * bulk_modulus - c11) / 2])
"""


def fit(frames, element: str, changes: dict, folder: Path, pacemaker: Path):
    """Fit ``frames`` with BASE plus ``changes``; return the potential's predictions (:data:`EVALUATE`) and the fit's
    seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    parameters = PacemakerParameters(**{**BASE, **changes})
    write_pacemaker_dataframe(frames, folder / 'data.pckl.gzip')
    write_pacemaker_input(folder / 'input.yaml', parameters, [element], structure_count=len(frames))
    start = time.time()
    subprocess.run(
        [str(pacemaker), 'input.yaml'], cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seconds = time.time() - start
    write(folder / 'frames.extxyz', frames)
    subprocess.run([str(pacemaker.parent / 'python'), '-c', EVALUATE, element], cwd=folder, check=True)
    return dict(np.load(folder / 'predicted.npz')), seconds


def functions_per_rank(path: Path) -> str:
    """Return the count of basis functions per rank of a B-basis YAML, e.g. ``15/9``."""
    counts = {}
    for species in yaml.safe_load(path.read_text())['species']:
        for function in species.get('nbody', []):
            counts[len(function['nr'])] = counts.get(len(function['nr']), 0) + 1
    return '/'.join(str(counts[rank]) for rank in sorted(counts))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--element', default='Si')
    parser.add_argument('--kpoints-distance', type=float, default=0.45)
    parser.add_argument('--protocol', default='fast')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--workdir', type=Path, default=Path('/tmp/fit-capacity'))
    parser.add_argument('--pacemaker', type=Path, required=True, help='the pacemaker executable')
    parser.add_argument('--frames', type=Path, help='fit these labelled frames (extxyz, e.g. an export) instead')
    parser.add_argument('--functions', type=int, nargs='*', default=[], help='also fit BASE with these basis sizes')
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants}
    variants.update({f'{size}-functions': {'number_of_functions_per_element': size} for size in args.functions})
    if args.frames:
        frames, series = read(args.frames, index=':'), []
        print(f'{args.element}: {len(frames)} structures of {args.frames}')
    else:
        frames = labelled_set(args.element, args.kpoints_distance, args.protocol, args.workdir)
        series = frames[: len(VOLUME_STRAINS) + 2]
        volumes = [atoms.get_volume() for atoms in series]
        dft = np.array([atoms.get_potential_energy() / len(atoms) for atoms in series])
        dft_modulus = fit_eos(volumes, dft * len(series[0]))['bulk_modulus_gpa']
        print(f'{args.element}: {len(frames)} structures, DFT bulk modulus {dft_modulus:.1f} GPa (EOS of its labels)')
    print(
        f'{"variant":16s} {"train E":>8s} {"train F":>8s} {"EOS E":>7s} {"B err":>7s} {"a A":>7s} {"B GPa":>7s} '
        f'{"C11":>7s} {"C12":>7s} functions     s'
    )
    for name, changes in variants.items():
        folder = args.workdir / f'fit-{args.element}-{name}'
        predicted, seconds = fit(frames, args.element, changes, folder, args.pacemaker)
        sizes = np.array([len(atoms) for atoms in frames])
        errors = (predicted['energies'] - [atoms.get_potential_energy() for atoms in frames]) / sizes
        errors -= errors.mean()
        force_errors = predicted['forces'] - np.concatenate([atoms.get_forces() for atoms in frames])
        train_e = 1000 * float(np.sqrt(np.mean(errors**2)))
        train_f = 1000 * float(np.sqrt(np.mean(force_errors**2)))
        eos_columns = f'{"-":>7s} {"-":>7s}'
        if series:
            ace = errors[: len(series)] + dft
            eos_error = 1000 * float(np.abs((ace - ace.min()) - (dft - dft.min())).max())
            modulus = fit_eos(volumes, ace * len(series[0]))['bulk_modulus_gpa']
            eos_columns = f'{eos_error:7.1f} {100 * (modulus / dft_modulus - 1):+6.1f}%'
        lattice, bulk_modulus, c11, c12 = predicted['elastic']
        print(
            f'{name:16s} {train_e:8.1f} {train_f:8.0f} {eos_columns} {lattice:7.3f} {bulk_modulus:7.1f} {c11:7.1f} '
            f'{c12:7.1f} {functions_per_rank(folder / "output_potential.yaml"):>9s} {seconds:5.0f}'
        )


if __name__ == '__main__':
    main()
