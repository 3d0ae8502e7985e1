"""The non-linear check of the benchmark: real pacemaker fits, from scratch, on the frames a strategy chose.

The input is written by the training stage's own helpers (``training.pacemaker_io``:
``write_pacemaker_input``, ``write_pacemaker_dataframe``; the job driver's ``lower_inner_cutoff``), with
the EMT energies of isolated atoms as reference energies and no test split (every potential is
scored on the benchmark's held-out sets instead). pacemaker runs in its own environment
(``pacemaker input.yaml --no-predict``), one thread; the potential is evaluated with pyace's
ASE calculator.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.emt import EMT


def isolated_energies(elements) -> dict[str, float]:
    """Return EMT's energy of each isolated atom of ``elements`` (eV)."""
    energies = {}
    for symbol in elements:
        atom = Atoms(symbol, positions=[[0, 0, 0]], cell=[20, 20, 20], pbc=False)
        atom.calc = EMT()
        energies[symbol] = float(atom.get_potential_energy())
    return energies


def fit_pacemaker(frames: list[Atoms], elements, folder: Path, parameters, pacemaker: str, timeout: float = 1800.0):
    """Fit a potential with pacemaker on labelled ``frames`` in ``folder``; return the YAML path and seconds.

    ``parameters`` are ``training.pacemaker_io.PacemakerParameters`` (``test_size`` must be 0);
    ``pacemaker`` the executable. Raises ``RuntimeError`` with the tail of the log when the fit fails.
    """
    from ..training.pacemaker_io import write_pacemaker_dataframe, write_pacemaker_input
    from ..training.run_pacemaker import lower_inner_cutoff

    if parameters.test_size:
        raise ValueError('`parameters.test_size` must be 0: the benchmark scores on its own held-out sets')
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    count = write_pacemaker_dataframe(frames, folder / 'data.pckl.gzip')
    write_pacemaker_input(
        folder / 'input.yaml',
        parameters,
        elements,
        reference_energies=isolated_energies(elements),
        structure_count=count,
    )
    environment = {
        key: value for key, value in os.environ.items() if key not in ('PYTHONPATH', 'VIRTUAL_ENV', 'AIIDA_PATH')
    }
    environment.update(OMP_NUM_THREADS='1', TF_NUM_INTRAOP_THREADS='1', TF_NUM_INTEROP_THREADS='1')
    environment['TF_CPP_MIN_LOG_LEVEL'] = '2'
    tick = time.perf_counter()
    with open(folder / 'pacemaker.out', 'w') as out:
        process = subprocess.run(
            [pacemaker, 'input.yaml', '--no-predict'],
            cwd=folder,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    seconds = time.perf_counter() - tick
    output = folder / 'output_potential.yaml'
    if process.returncode != 0 or not output.exists():
        tail = (folder / 'pacemaker.out').read_text()[-1500:]
        raise RuntimeError(f'pacemaker failed in {folder} (exit {process.returncode}):\n{tail}')
    if parameters.repulsion and parameters.repulsion_margin > 0:
        output.write_text(lower_inner_cutoff(output.read_text(), parameters.repulsion_margin))
    return output, seconds


def reference_energies(yaml_path: Path, fallback: dict[str, float]) -> dict[str, float]:
    """Return the per-element energies the potential's energies are relative to (``shift`` included)."""
    metadata = (yaml.safe_load(Path(yaml_path).read_text()) or {}).get('metadata') or {}
    reference = metadata.get('reference_energy')
    if isinstance(reference, str):
        reference = yaml.safe_load(reference)
    return {key: float(value) for key, value in (reference or fallback).items()}


def predict(yaml_path: Path, frames: list[Atoms], reference: dict[str, float], forces: bool = True):
    """Return the energies (eV, on EMT's scale) and flat forces of ``frames`` from the potential at ``yaml_path``."""
    from pyace import PyACECalculator
    from pyace.basis import BBasisConfiguration

    calculator = PyACECalculator(BBasisConfiguration(str(yaml_path)))
    shift = reference.get('shift', 0.0)
    energies, all_forces = [], []
    for atoms in frames:
        copy = Atoms(atoms.get_chemical_symbols(), atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.calc = calculator
        offset = sum(reference.get(symbol, 0.0) - shift for symbol in copy.get_chemical_symbols())
        energies.append(copy.get_potential_energy() + offset)
        if forces:
            all_forces.append(copy.get_forces().ravel())
    return np.array(energies), (np.concatenate(all_forces) if forces else np.zeros(0))
