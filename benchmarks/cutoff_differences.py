"""What a lower plane-wave cutoff changes in the labels a potential learns: energy differences, forces, stress.

``benchmarks/pseudo_cutoffs.py`` sets the family's cutoffs by the error of the total energy per
atom, which converges more slowly than anything a potential is fitted to: a constant energy per
atom is absorbed by the potential's reference energy. This script labels the cells a campaign
labels, made from an element's conventional cell (the label check's larger cell): the ideal cell,
one rattled (0.08 A), one isotropically strained (+4 % volume), one sheared (3 % xy), and the cell
with a vacancy, with pw.x at each cutoff and at a reference cutoff, and prints per cutoff the
largest error against the reference of

* ``E total``: the energy per atom (what the family's table measures; meV/atom);
* ``E diff``: the energy per atom of each distorted cell minus the ideal cell's (meV/atom);
* ``E vac``: the vacancy formation energy, E(N-1) - (N-1)/N E(N) (meV);
* ``F``: any force component (meV/A);
* ``S``: any stress component (GPa), and ``S diff``: any stress component of a distorted cell minus
  the ideal cell's (GPa; what elastic constants are made of);
* ``CPU s``: pw.x CPU seconds of the five cells (pw.x's own count).

The k-point mesh is the labelling's (``kpoints_distance``, as aiida-quantumespresso makes it) and the
smearing the protocol's unless ``--degauss`` is given. Runs go through ASE's Espresso calculator, one
at a time, with ``--processes`` MPI processes (k-point pools).

Usage (pw.x and Debian's pseudopotentials installed, as ``make setup`` does; nothing else running)::

    .venv/bin/python benchmarks/cutoff_differences.py --element Si --cutoffs 20 24 28 36 [--reference 70]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

from aiida_mlip_autopipe.benchmark.pw_ase import protocol_smearing, run_pw
from aiida_mlip_autopipe.labelling.consistency import reference_cells
from aiida_mlip_autopipe.labelling.protocol import kpoint_mesh
from aiida_mlip_autopipe.pseudos import load_cutoff_table
from aiida_mlip_autopipe.setup import mpirun_command


def labelled_cells(element: str) -> dict[str, Atoms]:
    """Return the ideal conventional cell of ``element`` and four cells made from it, as a campaign labels them."""
    ideal = reference_cells(element)[1]
    rattled = ideal.copy()
    rattled.rattle(stdev=0.08, seed=1)
    strained = ideal.copy()
    strained.set_cell(ideal.cell * 1.04 ** (1 / 3), scale_atoms=True)
    sheared = ideal.copy()
    shear = np.eye(3)
    shear[0, 1] = 0.03
    sheared.set_cell(ideal.cell @ shear, scale_atoms=True)
    vacancy = ideal.copy()
    del vacancy[0]
    return {'ideal': ideal, 'rattled': rattled, 'strained': strained, 'sheared': sheared, 'vacancy': vacancy}


def label(atoms: Atoms, input_data: dict, pseudos: dict, kpts, command: str, folder: Path) -> dict:
    """Return energy (eV), forces (eV/A), stress (GPa, Voigt) and pw.x CPU seconds of one pw.x run."""
    labelled, seconds = run_pw(atoms, input_data, pseudos, kpts, folder, command)
    return {
        'energy': labelled.get_potential_energy(),
        'forces': labelled.get_forces(),
        'stress': labelled.get_stress() / GPa,
        'cpu': seconds,
    }


def errors(labels: dict, reference: dict, sizes: dict) -> dict:
    """Return the largest errors of ``labels`` against ``reference`` (both: cell name -> :func:`label` result;
    ``sizes``: cell name -> atoms)."""

    def per_atom(results, name):
        return results[name]['energy'] / sizes[name]

    distorted = [name for name in labels if name not in ('ideal', 'vacancy')]
    ideal_size = sizes['ideal']

    def vacancy_energy(results):
        return results['vacancy']['energy'] - (ideal_size - 1) / ideal_size * results['ideal']['energy']

    return {
        'E total': 1000 * max(abs(per_atom(labels, n) - per_atom(reference, n)) for n in labels),
        'E diff': 1000
        * max(
            abs(
                (per_atom(labels, n) - per_atom(labels, 'ideal'))
                - (per_atom(reference, n) - per_atom(reference, 'ideal'))
            )
            for n in distorted
        ),
        'E vac': 1000 * abs(vacancy_energy(labels) - vacancy_energy(reference)),
        'F': 1000 * max(float(np.abs(labels[n]['forces'] - reference[n]['forces']).max()) for n in labels),
        'S': max(float(np.abs(labels[n]['stress'] - reference[n]['stress']).max()) for n in labels),
        'S diff': max(
            float(
                np.abs(
                    (labels[n]['stress'] - labels['ideal']['stress'])
                    - (reference[n]['stress'] - reference['ideal']['stress'])
                ).max()
            )
            for n in distorted
        ),
        'CPU s': sum(result['cpu'] for result in labels.values()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--element', default='Si')
    parser.add_argument('--cutoffs', nargs='+', type=float, default=[20, 24, 28, 36], help='ecutwfc values (Ry)')
    parser.add_argument('--reference', type=float, default=None, help='reference ecutwfc (Ry); default: the table')
    parser.add_argument('--kpoints-distance', type=float, default=0.3, help='1/A, 2 pi included')
    parser.add_argument('--degauss', type=float, default=None, help="smearing (Ry); default: the fast protocol's")
    parser.add_argument('--processes', type=int, default=1, help='MPI processes of each pw.x run (k-point pools)')
    args = parser.parse_args()
    row = load_cutoff_table()[args.element]
    dual = row['dual']
    reference_cutoff = args.reference or row['reference_ecutwfc']
    smearing = protocol_smearing('fast')
    if args.degauss is not None:
        smearing['degauss'] = args.degauss
    mpirun = ' '.join(mpirun_command()).replace('{tot_num_mpiprocs}', str(args.processes))
    command = 'pw.x' if args.processes == 1 else f'{mpirun} pw.x -nk {args.processes}'
    pseudos = {args.element: row['file']}
    cells = labelled_cells(args.element)
    print(
        f'{args.element}: cutoff errors against ecutwfc {reference_cutoff:g} Ry (ecutrho {dual}x), '
        f'kpoints_distance {args.kpoints_distance}, {smearing["smearing"]} smearing {smearing["degauss"]} Ry, '
        f'cells of {", ".join(f"{n} {len(a)}" for n, a in cells.items())} atoms'
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix='cutoff-differences-') as tmp:
        for cutoff in [reference_cutoff, *args.cutoffs]:
            input_data = {
                'control': {'tprnfor': True, 'tstress': True, 'disk_io': 'none'},
                'system': {'ecutwfc': cutoff, 'ecutrho': dual * cutoff, **smearing},
                'electrons': {'conv_thr': 1e-10},
            }
            results[cutoff] = {
                name: label(atoms, input_data, pseudos, kpoint_mesh(atoms, args.kpoints_distance), command, Path(tmp))
                for name, atoms in cells.items()
            }
    columns = ('E total', 'E diff', 'E vac', 'F', 'S', 'S diff', 'CPU s')
    units = ('meV/at', 'meV/at', 'meV', 'meV/A', 'GPa', 'GPa', '')
    print(f'{"ecutwfc":>7s} ' + ' '.join(f'{c:>8s}' for c in columns))
    print(f'{"Ry":>7s} ' + ' '.join(f'{u:>8s}' for u in units))
    reference_cpu = sum(result['cpu'] for result in results[reference_cutoff].values())
    print(f'{reference_cutoff:7g} ' + ' '.join(f'{"-":>8s}' for _ in columns[:-1]) + f' {reference_cpu:8.1f}')
    for cutoff in args.cutoffs:
        row_errors = errors(results[cutoff], results[reference_cutoff], {n: len(a) for n, a in cells.items()})
        print(
            f'{cutoff:7g} '
            + ' '.join(f'{row_errors[c]:8.2f}' if c.startswith('S') else f'{row_errors[c]:8.1f}' for c in columns)
        )


if __name__ == '__main__':
    main()
