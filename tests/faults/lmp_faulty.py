#!/usr/bin/python3
"""Fault-injecting wrapper around the real ML-PACE ``lmp``, for the fault tests (never a production code).

Registered as a ``lammps.raw`` code in place of ``lmp``. The first MD run (a command line with
``-in``) whose input script matches the regular expression ``crash_pattern`` crashes: LAMMPS's
banner, an ``ERROR`` line and a SIGSEGV of this process, as a segmentation fault in a pair style
leaves them. Every other call (also ``lmp -h``, which ``mlip-autopipe setup`` runs) is the real
``lmp``, unchanged. A pattern, not a run number, picks the run: runs submitted together start in
any order.

Settings in ``lmp_faulty.json`` beside this file: ``real``, ``crash_pattern`` and ``state`` (a folder
for the count and ``faults.log``). Only the Python standard library.
"""

import fcntl
import json
import os
import re
import signal
import sys
from pathlib import Path

SETTINGS = json.loads(Path(__file__).with_suffix('.json').read_text())


def count_run(matches: bool) -> tuple[int, bool]:
    """Return this MD run's number and whether it crashes: the first run that ``matches``."""
    state = Path(SETTINGS['state'])
    state.mkdir(parents=True, exist_ok=True)
    with open(state / 'count.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path, crashed = state / 'count', state / 'crashed'
        number = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(number))
        crash = matches and not crashed.exists()
        if crash:
            crashed.write_text(str(number))
    return number, crash


def main(arguments) -> int:
    real = SETTINGS['real']
    if '-in' not in arguments:
        os.execv(real, [real, *arguments])
    script = Path(arguments[arguments.index('-in') + 1]).read_text()
    number, crash = count_run(re.search(SETTINGS['crash_pattern'], script) is not None)
    if not crash:
        os.execv(real, [real, *arguments])
    with open(Path(SETTINGS['state']) / 'faults.log', 'a') as handle:
        handle.write(json.dumps({'run': number, 'mode': 'segfault', 'folder': os.getcwd()}) + '\n')
    print('LAMMPS (4 Feb 2025)\nERROR: injected fault: segmentation fault in pair style (fault injection)', flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
    return 139


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
