#!/usr/bin/python3
"""Fault-injecting wrapper around the real pw.x, for the fault tests (never a production code).

Registered as a ``quantumespresso.pw`` code in place of pw.x. Every run is counted (a lock file
keeps the count right when runs go side by side). Once run ``every``, ``2 * every``, ... is reached,
the next run of a structure that has not failed yet fails, in turn, in one of the ``modes`` below,
each mode once; every other run is the real pw.x, unchanged. A structure fails at most once, so the
run that repeats a failed one (a handler's restart, or the same inputs once more) is never failed
again, and no label is lost to the injection itself:

- ``nonconvergence``: the real pw.x with ``electron_maxstep = 1``: "convergence NOT achieved", exit 2;
- ``crash``: pw.x's first lines, a ``CRASH`` file and exit 1, as an abort in its setup leaves them;
- ``killed``: the real pw.x, killed with SIGKILL after a moment, and then this wrapper too (exit 137);
- ``garbage``: exit 0, but meaningless text as the output and a cut-short XML file, as a full disk or a
  broken file system leaves them.

A run on several MPI processes (the labelling window gives the costliest structures of an uneven
batch two places) starts this wrapper once per rank: rank 0 counts the run and decides, and writes
the decision into the working folder; the other ranks wait for it and then run the real pw.x with
rank 0 (no fault, or ``nonconvergence``) or end quietly (a fault rank 0 plays out alone), so that a
rank never waits in ``MPI_Init`` for a peer that is gone.

Settings in ``pw_faulty.json`` beside this file: ``real`` (the pw.x), ``every``, ``modes``, ``state``
(a folder for the count and the log of what was injected, ``faults.log``: run, mode, working folder).
Only the Python standard library: it runs with the system's Python, outside the plugin's environment.
"""

import fcntl
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = json.loads(Path(__file__).with_suffix('.json').read_text())
#: environment variables of the MPI launcher, not passed to a pw.x started here as a child process
MPI_PREFIXES = ('OMPI_', 'PMIX_', 'OPAL_', 'PRTE_')
#: this process's MPI rank (0 without a launcher)
RANK = int(os.environ.get('OMPI_COMM_WORLD_RANK', os.environ.get('PMIX_RANK', '0')))
#: where rank 0 leaves its decision for the other ranks, in the run's working folder
DECISION = Path('pw_faulty_decision.txt')
#: modes in which the other ranks run the real pw.x beside rank 0
WITH_PEERS = (None, 'nonconvergence')


def structure_key(text: str) -> str:
    """Return a digest of the cards of a pw.x input (species, positions, cell, k-points): the structure."""
    start = text.upper().find('ATOMIC_SPECIES')
    return hashlib.sha256(text[start:].encode()).hexdigest()


def choose_fault(key: str) -> str | None:
    """Count this run and return the mode it fails in, or ``None``; decided and recorded under a lock."""
    state = Path(SETTINGS['state'])
    state.mkdir(parents=True, exist_ok=True)
    with open(state / 'count.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = state / 'state.json'
        record = json.loads(path.read_text()) if path.exists() else {'runs': 0, 'faulted': []}
        record['runs'] += 1
        modes = SETTINGS['modes']
        done = len(record['faulted'])
        due = min(record['runs'] // int(SETTINGS['every']), len(modes))
        mode = None
        if done < due and key not in record['faulted']:
            mode = modes[done]
            record['faulted'].append(key)
            with open(state / 'faults.log', 'a') as handle:
                handle.write(json.dumps({'run': record['runs'], 'mode': mode, 'folder': os.getcwd()}) + '\n')
        path.write_text(json.dumps(record))
    return mode


def input_path(arguments) -> Path:
    for flag in ('-in', '-inp', '-input', '-i'):
        if flag in arguments:
            return Path(arguments[arguments.index(flag) + 1])
    raise SystemExit('pw_faulty: no -in argument')


def decide(mode: str | None) -> None:
    """Leave rank 0's decision for the other ranks (written whole, then renamed into place)."""
    partial = DECISION.with_suffix('.partial')
    partial.write_text(mode or '')
    partial.rename(DECISION)


def peer_decision(timeout: float = 300.0) -> str | None:
    """Wait for rank 0's decision and return it."""
    deadline = time.time() + timeout
    while not DECISION.exists():
        if time.time() > deadline:
            raise SystemExit('pw_faulty: rank 0 made no decision')
        time.sleep(0.05)
    return DECISION.read_text() or None


def main(arguments) -> int:
    real = SETTINGS['real']
    if RANK != 0:
        if peer_decision() in WITH_PEERS:
            os.execv(real, [real, *arguments])
        return 0
    path = input_path(arguments)
    text = path.read_text()
    mode = choose_fault(structure_key(text))
    if mode == 'nonconvergence':
        text = re.sub(r'^\s*electron_maxstep\s*=.*$\n?', '', text, flags=re.MULTILINE | re.IGNORECASE)
        text = re.sub(r'(&ELECTRONS\s*\n)', r'\1  electron_maxstep = 1\n', text, count=1, flags=re.IGNORECASE)
        path.write_text(text)
    decide(mode)
    if mode in WITH_PEERS:
        os.execv(real, [real, *arguments])
    if mode == 'crash':
        print('\n     Program PWSCF v.6.7MaX starts on  1Jan2026 at  0: 0: 0 \n', flush=True)
        Path('CRASH').write_text(
            '\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n'
            '     Error in routine fault_injection (1):\n     injected crash\n'
            ' %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n'
        )
        return 1
    if mode == 'killed':
        # a serial pw.x of its own (it is not the MPI launcher's process), killed once it has started
        environment = {name: value for name, value in os.environ.items() if not name.startswith(MPI_PREFIXES)}
        process = subprocess.Popen([real, *arguments], env=environment)
        time.sleep(1.0)
        process.send_signal(signal.SIGKILL)
        process.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == 'garbage':
        noise = ''.join(chr(33 + (17 * index) % 90) for index in range(4000))
        print(f'     Program PWSCF v.6.7MaX starts\n {noise}\n     total energy = ****** Ry\n', flush=True)
        outdir = re.search(r"outdir\s*=\s*'([^']*)'", text, flags=re.IGNORECASE)
        prefix = re.search(r"prefix\s*=\s*'([^']*)'", text, flags=re.IGNORECASE)
        folder = Path(outdir.group(1) if outdir else './out')
        name = prefix.group(1) if prefix else 'aiida'
        for xml in (folder / f'{name}.xml', folder / f'{name}.save' / 'data-file-schema.xml'):
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text('<?xml version="1.0"?>\n<qes:espresso ' + noise[:500])
        return 0
    raise SystemExit(f'pw_faulty: unknown mode {mode}')


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
