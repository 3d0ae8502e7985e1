"""What SQLite's journal mode costs a labelling batch of small cells on the embedded default profile.

The same ``DftLabellingWorkChain`` (two pw.x runs at a time, caching off) labels the same cells in
two throw-away ``core.sqlite_dos`` profiles, one left in SQLite's default rollback-journal mode
(``delete``), one switched to the write-ahead log as ``mlip-autopipe setup`` does (``wal``), in the
order given. The cells are the kind a first batch is full of: 1-4-atom Al and Mg cells under random
strain (a second or two of pw.x each), where the campaign's own process is most of the cost. It
prints, per mode, the batch's wall time, pw.x CPU time, core saturation (pw.x CPU / (2 cores x
wall)), the core-seconds per label not spent in pw.x and the database commits per label, and the
ratios wal / delete.

Usage (pw.x and Debian's pseudopotentials installed, as ``make setup`` does; nothing else running)::

    .venv/bin/python benchmarks/sqlite_journal.py [--cells 24] [--modes delete wal]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase.build import bulk


def strained_cells(count: int, seed: int = 0) -> list:
    """Return ``count`` small Al and Mg cells under random strains of up to 3 %."""
    rng = np.random.default_rng(seed)
    bases = [bulk('Al'), bulk('Mg'), bulk('Al', cubic=True), bulk('Mg', 'fcc', a=4.5)]
    cells = []
    for index in range(count):
        atoms = bases[index % len(bases)].copy()
        strain = rng.uniform(-0.03, 0.03, size=(3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        cells.append(atoms)
    return cells


def label_batch(mode: str, cells: list) -> dict:
    """Label ``cells`` in a new throw-away profile whose SQLite database is in journal ``mode``."""
    from throwaway_profile import throwaway_profile

    with throwaway_profile(f'journal-{mode}'):
        import sqlite3

        from aiida import orm
        from aiida.engine import run_get_node
        from aiida.manage import get_manager
        from aiida.manage.caching import disable_caching
        from sqlalchemy import event

        from aiida_mlip_autopipe.common.timing import labelling_saturation
        from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain
        from aiida_mlip_autopipe.pseudos import install_pseudo_family
        from aiida_mlip_autopipe.setup import ensure_code, ensure_localhost, use_write_ahead_log

        storage = get_manager().get_profile_storage()
        if mode == 'wal':
            use_write_ahead_log()
        with sqlite3.connect(storage.filepath_database) as connection:
            effective = connection.execute('PRAGMA journal_mode').fetchone()[0]
        computer = ensure_localhost('localhost')
        code = ensure_code('pw', computer, 'quantumespresso.pw', 'pw.x')
        family = install_pseudo_family()
        structures = {f'c{index:02d}': orm.StructureData(ase=atoms) for index, atoms in enumerate(cells)}
        commits = []
        event.listen(storage.get_session().get_bind(), 'commit', lambda connection: commits.append(1))
        start = time.time()
        with disable_caching():
            _, node = run_get_node(
                DftLabellingWorkChain,
                structures=structures,
                code=code,
                protocol=orm.Str('fast'),
                overrides=orm.Dict({'kpoints_distance': 0.45}),
                pseudo_family=orm.Str(family.label),
                max_concurrent=orm.Int(2),
            )
        wall = time.time() - start
        saturation = labelling_saturation(node) or {}
        cpu = saturation.get('pw_cpu_seconds', float('nan'))
        return {
            'mode': effective,
            'exit': node.exit_status,
            'wall': wall,
            'cpu': cpu,
            'saturation': saturation.get('core_saturation') or float('nan'),
            'extra_per_label': (2 * wall - cpu) / len(cells),
            'commits_per_label': len(commits) / len(cells),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cells', type=int, default=24, help='cells in the batch')
    parser.add_argument('--modes', nargs='+', default=['delete', 'wal'], choices=['delete', 'wal'])
    args = parser.parse_args()
    cells = strained_cells(args.cells)
    rows = {mode: label_batch(mode, cells) for mode in args.modes}
    print(f'{args.cells} strained Al/Mg cells of 1-4 atoms, pw.x fast protocol at kpoints_distance 0.45, 2 at a time')
    header = ('journal', 'exit', 'wall s', 'pw.x CPU s', 'saturation', 'idle core-s per label', 'commits per label')
    widths = (8, 4, 7, 10, 10, 21, 17)
    print(' '.join(f'{name:>{width}s}' for name, width in zip(header, widths)))
    for row in rows.values():
        print(
            f'{row["mode"]:8s} {row["exit"]!s:>4s} {row["wall"]:7.1f} {row["cpu"]:10.1f} '
            f'{row["saturation"]:10.2f} {row["extra_per_label"]:21.2f} {row["commits_per_label"]:17.0f}'
        )
    if {'delete', 'wal'} <= set(rows):
        new, old = rows['wal'], rows['delete']
        print(
            f'wal / delete: wall {new["wall"] / old["wall"]:.2f}, '
            f'idle core-seconds per label {new["extra_per_label"] / old["extra_per_label"]:.2f}'
        )


if __name__ == '__main__':
    main()
