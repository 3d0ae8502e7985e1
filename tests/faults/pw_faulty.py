#!/usr/bin/python3
"""Fault-injecting wrapper around the real pw.x, for the fault tests (never a production code).

Registered as a ``quantumespresso.pw`` code in place of pw.x. Every run is counted (a lock file
keeps the count right when runs go side by side); run ``every``, ``2 * every``, ... fails, in turn,
in one of the ``modes`` below, and every other run is the real pw.x, unchanged:

- ``nonconvergence``: the real pw.x with ``electron_maxstep = 1``: "convergence NOT achieved", exit 2;
- ``crash``: pw.x's first lines, a ``CRASH`` file and exit 1, as an abort in its setup leaves them;
- ``killed``: the real pw.x, killed with SIGKILL after a moment, and then this wrapper too (exit 137);
- ``garbage``: the real pw.x runs, but its output is replaced by meaningless text and its XML files are
  cut short, as a full disk or a broken file system leaves them.

Settings in ``pw_faulty.json`` beside this file: ``real`` (the pw.x), ``every``, ``modes``, ``state``
(a folder for the count and the log of what was injected, ``faults.log``: run, mode, working folder).
Only the Python standard library: it runs with the system's Python, outside the plugin's environment.
"""

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = json.loads(Path(__file__).with_suffix('.json').read_text())


def count_run() -> int:
    """Return this run's number (1, 2, ...), counted under a lock."""
    state = Path(SETTINGS['state'])
    state.mkdir(parents=True, exist_ok=True)
    with open(state / 'count.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = state / 'count'
        number = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(number))
    return number


def log(number: int, mode: str) -> None:
    with open(Path(SETTINGS['state']) / 'faults.log', 'a') as handle:
        handle.write(json.dumps({'run': number, 'mode': mode, 'folder': os.getcwd()}) + '\n')


def input_path(arguments) -> Path:
    for flag in ('-in', '-inp', '-input', '-i'):
        if flag in arguments:
            return Path(arguments[arguments.index(flag) + 1])
    raise SystemExit('pw_faulty: no -in argument')


def main(arguments) -> int:
    real = SETTINGS['real']
    number = count_run()
    every = int(SETTINGS['every'])
    if number % every:
        os.execv(real, [real, *arguments])
    modes = SETTINGS['modes']
    mode = modes[(number // every - 1) % len(modes)]
    log(number, mode)
    if mode == 'nonconvergence':
        path = input_path(arguments)
        text = path.read_text()
        text = re.sub(r'^\s*electron_maxstep\s*=.*$\n?', '', text, flags=re.MULTILINE | re.IGNORECASE)
        text = re.sub(r'(&ELECTRONS\s*\n)', r'\1  electron_maxstep = 1\n', text, count=1, flags=re.IGNORECASE)
        path.write_text(text)
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
        process = subprocess.Popen([real, *arguments])
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == 'garbage':
        result = subprocess.run([real, *arguments], capture_output=True)
        noise = ''.join(chr(33 + (17 * index) % 90) for index in range(4000))
        print(f'     Program PWSCF v.6.7MaX starts\n {noise}\n     total energy = ****** Ry\n', flush=True)
        for xml in Path('.').rglob('*.xml'):
            xml.write_text('<?xml version="1.0"?>\n<qes:espresso ' + noise[:500])
        return result.returncode
    raise SystemExit(f'pw_faulty: unknown mode {mode}')


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
