"""How much noise the k-point sampling puts into the labels: energies of the same crystals at several
``kpoints_distance`` values against a dense reference.

A potential cannot fit label noise, so the energy errors a campaign can reach, and the validation's
bulk moduli (5 %) and formation energies (5 meV/atom), are bounded by it. For each element (default
Al and Mg) the script computes with pw.x the equation-of-state series of the validation (volume
strains -6 % to +6 %) of the element's reference crystal in two cells, the primitive one and a
larger one of the same crystal (the conventional cube of a cubic crystal, the orthorhombic 4-atom
cell of hcp; the cells of the campaign's label check), at each distance and at the dense reference.
Against the reference, per distance, it prints:

* ``jump``: the largest change of the error along one series (meV/atom): the mesh changes with the
  volume and the energy jumps; this is noise inside an equation of state;
* ``cells``: the largest difference of the error between the two cells of the same crystal at the
  same volume (meV/atom): the same crystal labelled twice disagrees by this much;
* ``offset``: the largest error itself (meV/atom);
* ``CPU s``: pw.x CPU seconds of the whole series in both cells (pw.x's own count).

The pw.x parameters are the labelling protocol's: cutoffs of the project's pseudopotential table at the
protocol's stringency, aiida-quantumespresso's smearing for the protocol; runs go through ASE's
Espresso calculator, one MPI process, one at a time.

Usage (pw.x and Debian's pseudopotentials installed, as ``make setup`` does; nothing else running)::

    .venv/bin/python benchmarks/kpoint_noise.py [--elements Al Mg] [--distances 0.45 0.3 0.2 0.15] [--reference 0.1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_mlip_autopipe.benchmark.pw_ase import protocol_smearing, run_pw
from aiida_mlip_autopipe.labelling.consistency import reference_cells
from aiida_mlip_autopipe.labelling.protocol import kpoint_mesh
from aiida_mlip_autopipe.pseudos import PROTOCOL_STRINGENCY, load_cutoff_table
from aiida_mlip_autopipe.validation.eos import strained_series

#: Volume strains of the series (the validation's, and two more inside).
STRAINS = (-0.06, -0.036, -0.012, 0.0, 0.012, 0.036, 0.06)


def crystal_cells(element: str) -> dict[str, Atoms]:
    """Return the element's reference crystal in its primitive and a larger cell, as the campaign's label check."""
    return {f'{len(atoms)}-atom': atoms for atoms in reference_cells(element)}


def pw_parameters(protocol: str, elements) -> tuple[dict, dict]:
    """Return ``(input_data, pseudopotentials)`` of the labelling protocol for ``elements``."""
    table = load_cutoff_table()
    stringency = PROTOCOL_STRINGENCY[protocol]
    wfc = max(table[element][stringency]['cutoff_wfc'] for element in elements)
    rho = max(table[element][stringency]['cutoff_rho'] for element in elements)
    input_data = {
        'control': {'tprnfor': False, 'tstress': False},
        'system': {
            'ecutwfc': wfc,
            'ecutrho': rho,
            **protocol_smearing(protocol),
        },
        'electrons': {'conv_thr': 1e-9},
    }
    return input_data, {element: table[element]['file'] for element in elements}


def series_energies(atoms: Atoms, distance: float, input_data: dict, pseudos: dict, folder: Path) -> tuple[list, float]:
    """Return the energies per atom (eV) of the strained series of ``atoms`` and the pw.x CPU seconds."""
    energies, cpu = [], 0.0
    for strained in strained_series(atoms, STRAINS):
        labelled, seconds = run_pw(strained, input_data, pseudos, kpoint_mesh(strained, distance), folder)
        energies.append(labelled.get_potential_energy() / len(labelled))
        cpu += seconds
    return energies, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--elements', nargs='+', default=['Al', 'Mg'])
    parser.add_argument('--distances', nargs='+', type=float, default=[0.45, 0.3, 0.2, 0.15])
    parser.add_argument('--reference', type=float, default=0.1, help='kpoints_distance of the reference (1/A)')
    parser.add_argument('--protocol', default='fast', choices=sorted(PROTOCOL_STRINGENCY))
    args = parser.parse_args()
    print(f'k-point noise of the labels, protocol {args.protocol}, reference kpoints_distance {args.reference} 1/A')
    header = ('element', 'distance', 'jump meV/at', 'cells meV/at', 'offset meV/at', 'CPU s')
    print(' '.join(f'{name:>{width}s}' for name, width in zip(header, (7, 8, 11, 12, 13, 7))))
    with tempfile.TemporaryDirectory(prefix='kpoint-noise-') as tmp:
        for element in args.elements:
            input_data, pseudos = pw_parameters(args.protocol, [element])
            cells = crystal_cells(element)
            energies = {}
            for distance in [args.reference, *args.distances]:
                for name, atoms in cells.items():
                    energies[distance, name] = series_energies(atoms, distance, input_data, pseudos, Path(tmp))
            for distance in args.distances:
                errors = {
                    name: 1000 * (np.array(energies[distance, name][0]) - np.array(energies[args.reference, name][0]))
                    for name in cells
                }
                jump = max(float(np.abs(np.diff(error)).max()) for error in errors.values())
                first, second = errors.values()
                between = float(np.abs(first - second).max())
                offset = max(float(np.abs(error).max()) for error in errors.values())
                cpu = sum(energies[distance, name][1] for name in cells)
                print(f'{element:7s} {distance:8.2f} {jump:11.1f} {between:12.1f} {offset:13.1f} {cpu:7.1f}')


if __name__ == '__main__':
    main()
