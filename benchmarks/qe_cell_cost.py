"""Measure what pw.x costs per cell for candidate demo alloys, to choose the demo's system for cost.

For each pair of elements (default: Al-Mg, Al-Cu, Cu-Au) the script labels, through the project's
``DftLabellingWorkChain`` at one labelling protocol (default ``fast``, two runs at a time), the cells a
small campaign and its validation compute: each end member in its reference crystal (the EOS
points), the L1\\ :sub:`2` A3B cube (4 atoms: the elastic and formation cells of an fcc pair), an
8-atom rattled A6B2 cell (the size of the demo's MD frames) and, with ``--vacancy``, the 31-atom
vacancy cell of the first element (the validation's default ``vacancy_supercell: 2``; its
relaxation costs several such runs). It prints each cell's k-points, pw.x CPU seconds (pw.x's own count x
MPI processes; a run of aiida-quantumespresso's restart for too few bands counts too) and SCF
iterations, with caching off, and the CPU seconds of a reference campaign (``--frames`` MD
frames of 8 atoms, ``--small`` cells of up to 4 atoms) for each pair.

Usage (the profile needs ``pw@localhost`` and the pseudo family, as ``make setup`` makes them)::

    .venv/bin/python benchmarks/qe_cell_cost.py [--profile mlip-autopipe] [--pairs Al-Mg Cu-Au] [--vacancy]
"""

from __future__ import annotations

import argparse
import time

from ase import Atoms
from ase.build import bulk

from aiida_mlip_autopipe.validation.cells import _vegard_volume


def pair_cells(first: str, second: str, vacancy: bool) -> dict[str, Atoms]:
    """Return the cells measured for the pair ``first``-``second``, by name."""
    cells = {first: bulk(first), second: bulk(second)}
    cube = (4 * _vegard_volume({first: 3, second: 1})) ** (1 / 3)  # the fcc edge at 25 % of the second
    l12 = bulk(first, 'fcc', a=cube, cubic=True)
    l12.symbols[0] = second
    cells[f'{first}3{second}'] = l12
    frame = bulk(first, 'fcc', a=cube, cubic=True).repeat((2, 1, 1))
    frame.symbols[[0, 5]] = second
    frame.rattle(0.1, seed=1)
    cells[f'{first}6{second}2_rattled'] = frame
    if vacancy:
        supercell = bulk(first, 'fcc', cubic=True).repeat(2)
        del supercell[0]
        cells[f'{first}31_vacancy'] = supercell
    return cells


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--profile', default='mlip-autopipe', help='AiiDA profile')
    parser.add_argument('--pairs', nargs='+', default=['Al-Mg', 'Al-Cu', 'Cu-Au'], help='pairs A-B')
    parser.add_argument('--protocol', default='fast', choices=['fast', 'balanced', 'stringent'])
    parser.add_argument('--vacancy', action='store_true', help="also the 31-atom vacancy cell of each pair's first")
    parser.add_argument('--frames', type=int, default=30, help='8-atom MD frames of the reference campaign')
    parser.add_argument('--small', type=int, default=60, help='cells of up to 4 atoms of the reference campaign')
    args = parser.parse_args()

    from aiida import load_profile, orm

    load_profile(args.profile)
    from aiida.engine import run_get_node
    from aiida.manage.caching import disable_caching

    from aiida_mlip_autopipe.common.timing import code_run
    from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

    cells = {}
    for pair in args.pairs:
        first, second = pair.split('-')
        cells.update({f'{pair}:{name}': atoms for name, atoms in pair_cells(first, second, args.vacancy).items()})
    structures = {f'c{index:02d}': orm.StructureData(ase=atoms) for index, atoms in enumerate(cells.values())}
    names = dict(zip(structures, cells))
    start = time.time()
    with disable_caching():  # a cached run would measure nothing
        _, node = run_get_node(
            DftLabellingWorkChain,
            structures=structures,
            code=orm.load_code('pw@localhost'),
            protocol=orm.Str(args.protocol),
            max_concurrent=orm.Int(2),
        )
    wall = time.time() - start
    rows = {}
    for link in node.base.links.get_outgoing(link_label_filter='label_%').all():
        key = link.link_label.removeprefix('label_')
        calcs = [n for n in link.node.called_descendants if n.process_type and n.process_type.endswith('pw')]
        cpu = iterations = 0.0
        kpoints = None
        for calc in calcs:
            if 'output_parameters' not in calc.outputs:
                continue
            parameters = calc.outputs.output_parameters.get_dict()
            run = code_run(calc)
            cpu += run.cpu_seconds if run is not None else 0.0
            iterations += parameters.get('total_number_of_scf_iterations') or 0
            kpoints = parameters.get('number_of_k_points', kpoints)
        rows[key] = (len(structures[key].sites), kpoints, len(calcs), iterations, cpu)

    print(f'pw.x per cell, protocol {args.protocol}, DftLabellingWorkChain<{node.pk}> (exit {node.exit_status}),')
    print(f'{len(structures)} cells in {wall / 60:.1f} min of wall time, two runs at a time')
    print(f'{"cell":28s} {"atoms":>5s} {"k-points":>8s} {"runs":>4s} {"SCF it":>6s} {"CPU s":>8s}')
    for key, name in names.items():
        atoms, kpoints, runs, iterations, cpu = rows.get(key, (len(cells[name]), None, 0, 0, float('nan')))
        print(f'{name:28s} {atoms:5d} {kpoints if kpoints else "-":>8} {runs:4d} {iterations:6.0f} {cpu:8.1f}')
    cpu_of = {name: rows[key][4] if key in rows else float('nan') for key, name in names.items()}
    print(f'\nreference campaign: {args.small} cells like the L12 cube, {args.frames} MD frames of 8 atoms')
    for pair in args.pairs:
        first, second = pair.split('-')
        small, frame = cpu_of[f'{pair}:{first}3{second}'], cpu_of[f'{pair}:{first}6{second}2_rattled']
        total = args.small * small + args.frames * frame
        print(f'{pair:8s} {total / 60:7.1f} CPU min, {total / 120:6.1f} min of wall time on 2 cores at full saturation')


if __name__ == '__main__':
    main()
