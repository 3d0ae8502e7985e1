"""Idle cores between pw.x runs of the labelling window, by SQLite journal mode and the jobs' CPU priority.

Creates an embedded profile as ``make setup`` does (``verdi presto --use-zeromq``, ``mlip-autopipe
setup``) in a temporary ``AIIDA_PATH``, without caching, and labels ``--cells`` rattled 8-atom Si
cells (a few seconds of pw.x each, so the time between runs shows) with ``DftLabellingWorkChain``
in the foreground (``verdi run``), two places, once per variant, the variants alternating for
``--rounds`` rounds (new rattles each time). A variant is the database's journal mode (SQLite's
default rollback journal ``delete``, or the write-ahead log ``wal``) and the niceness of the jobs
(``renice`` in the computer's prepend text: pw.x below the campaign's own process). Prints per
batch the wall time, pw.x CPU seconds, the core saturation and the idle core time per run, (cores x
wall - CPU) / runs, then the medians per variant and their ratio to the first.

Usage: ``python benchmarks/labelling_dead_time.py [--cells 12] [--rounds 2]``. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PROFILE = 'dead-time'
#: variant: (journal mode of the database, niceness of the jobs)
VARIANTS = {'delete': ('delete', 0), 'wal': ('wal', 0), 'delete+nice': ('delete', 10), 'wal+nice': ('wal', 10)}
LABEL_SCRIPT = """
import json, sys
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from aiida_mlip_autopipe.labelling.workchain import DftLabellingWorkChain

cells, seed, niceness = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
computer = orm.load_computer('localhost')
lines = [line for line in computer.get_prepend_text().splitlines() if not line.startswith('renice')]
computer.set_prepend_text('\\n'.join(lines + ([f'renice -n {niceness} -p $$ >/dev/null'] if niceness else [])))
structures = {}
for index in range(cells):
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
    atoms.rattle(0.05, seed=seed * 1000 + index)
    structures[f'cell_{index:02d}'] = orm.StructureData(ase=atoms)
_, node = run_get_node(
    DftLabellingWorkChain,
    structures=structures,
    code=orm.load_code('pw@localhost'),
    protocol=orm.Str('fast'),
    overrides=orm.Dict({'kpoints_distance': 0.5, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 20, 'ecutrho': 80}}}}),
    max_concurrent=orm.Int(2),
)
print(json.dumps(node.base.extras.get('core_saturation')))
"""


def run(env, *command) -> str:
    result = subprocess.run([str(part) for part in command], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f'{command} failed:\n{result.stdout}\n{result.stderr}')
    return result.stdout


def set_journal(database: Path, mode: str) -> str:
    connection = sqlite3.connect(database, timeout=60)
    try:
        return connection.execute(f'PRAGMA journal_mode={mode}').fetchone()[0]
    finally:
        connection.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cells', type=int, default=12, help='cells per batch')
    parser.add_argument('--rounds', type=int, default=2, help='batches per variant')
    args = parser.parse_args(argv)
    print(f'load before: {os.getloadavg()[0]:.2f}; {time.strftime("%Y-%m-%d %H:%M:%S %Z")}')
    with tempfile.TemporaryDirectory(prefix='mlip-autopipe-dead-time-') as tmp:
        env = dict(os.environ, AIIDA_PATH=tmp, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')
        run(env, BIN / 'verdi', 'presto', '--profile-name', PROFILE, '--use-zeromq')
        run(env, BIN / 'mlip-autopipe', '-p', PROFILE, 'setup')
        (database,) = Path(tmp).glob('**/database.sqlite')
        script = Path(tmp) / 'label.py'
        script.write_text(LABEL_SCRIPT)
        results = {variant: [] for variant in VARIANTS}
        seed = 0
        for _ in range(args.rounds):
            for variant, (mode, niceness) in VARIANTS.items():
                seed += 1
                assert set_journal(database, mode) == mode
                start = time.time()
                output = run(env, BIN / 'verdi', '-p', PROFILE, 'run', script, args.cells, seed, niceness)
                timing = json.loads(output.strip().splitlines()[-1])
                idle = (timing['cores'] * timing['wall_seconds'] - timing['pw_cpu_seconds']) / timing['runs']
                results[variant].append((timing, idle))
                print(
                    f'{variant:11s} seed {seed}: batch wall {timing["wall_seconds"]:6.1f} s, pw.x CPU '
                    f'{timing["pw_cpu_seconds"]:6.1f} s, saturation {timing["core_saturation"]:.3f}, idle core time '
                    f'per run {idle:.2f} s ({timing["runs"]} runs; verdi run {time.time() - start:.0f} s)'
                )
    baseline = next(iter(VARIANTS))
    medians = {variant: statistics.median(idle for _, idle in rows) for variant, rows in results.items()}
    for variant, rows in results.items():
        saturation = statistics.median(timing['core_saturation'] for timing, _ in rows)
        print(
            f'median {variant:11s}: idle core time per run {medians[variant]:.2f} s '
            f'({medians[variant] / medians[baseline]:.2f} of {baseline}), saturation {saturation:.3f}'
        )
    print(f'load after: {os.getloadavg()[0]:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
