#!/usr/bin/python3
"""Fault-injecting wrapper around pacemaker's Python, for the fault tests (never a production code).

Registered as the ``mlip_autopipe.pacemaker`` code in place of pacemaker's Python. It runs the job's
driver with the real Python (so the driver finds pacemaker, pace_yaml2yace and pace_activeset beside
it); in the first job only, it waits until pacemaker's ``log.txt`` shows a fit iteration and then
kills that pacemaker process with SIGKILL, as a scheduler or a user might: mid-fit, no memory pressure.
Every later job is the real one, unchanged.

Settings in ``pacemaker_faulty.json`` beside this file: ``real`` (pacemaker's Python), ``state`` (a folder
for the count and ``faults.log``). Only the Python standard library.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = json.loads(Path(__file__).with_suffix('.json').read_text())


def count_run() -> int:
    state = Path(SETTINGS['state'])
    state.mkdir(parents=True, exist_ok=True)
    with open(state / 'count.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = state / 'count'
        number = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(number))
    return number


def children(pid: int) -> list[int]:
    """Return the pids of the processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def main(arguments) -> int:
    real = SETTINGS['real']
    number = count_run()
    if number != 1:
        os.execv(real, [real, *arguments])
    driver = subprocess.Popen([real, *arguments])
    killed = None
    while driver.poll() is None and killed is None:
        time.sleep(0.2)
        log = Path('log.txt')
        if log.exists() and 'Iteration:' in log.read_text(errors='replace'):
            for pid in children(driver.pid):
                try:
                    command = Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ')
                except OSError:
                    continue
                if b'pacemaker' in command and b'run_pacemaker' not in command:
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
    with open(Path(SETTINGS['state']) / 'faults.log', 'a') as handle:
        mode = 'sigkill' if killed else 'missed'
        handle.write(json.dumps({'run': number, 'mode': mode, 'folder': os.getcwd()}) + '\n')
    return driver.wait()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
