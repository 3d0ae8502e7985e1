"""An embedded AiiDA profile with its own daemon, in a temporary ``AIIDA_PATH`` (shared by the daemon tests).

Made as ``make setup`` makes it: ``verdi presto --use-zeromq`` (SQLite storage, ZeroMQ broker),
``daemon.timeout`` 30 s, the codes and pseudo family registered by ``mlip-autopipe setup``. The
tests drive it from outside through ``verdi`` and ``mlip-autopipe`` subprocesses and read it with
scripts run by ``verdi run`` that print one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .daemon_processes import kill_daemon

BIN = Path(sys.executable).parent


class EmbeddedProfile:
    """A profile ``name`` in ``path`` (its ``AIIDA_PATH``), driven through subprocesses."""

    def __init__(self, path: Path, name: str):
        self.path = Path(path)
        self.name = name
        # the daemon needs verdi on its PATH; PYTHONPATH (the code under test) is inherited
        self.env = dict(os.environ, AIIDA_PATH=str(self.path), PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')

    def run(self, *command, **kwargs) -> subprocess.CompletedProcess:
        """Run ``command`` (strings) in the profile's environment; raise with its output when it fails."""
        result = subprocess.run([str(part) for part in command], env=self.env, capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f'{command} exit {result.returncode}:\n{result.stdout}\n{result.stderr}')
        return result

    def verdi(self, *arguments) -> subprocess.CompletedProcess:
        return self.run(BIN / 'verdi', '-p', self.name, *arguments)

    def cli(self, *arguments) -> subprocess.CompletedProcess:
        return self.run(BIN / 'mlip-autopipe', '-p', self.name, *arguments)

    def create(self) -> EmbeddedProfile:
        """Create the profile and register the codes and pseudopotentials as `make setup` does."""
        self.run(BIN / 'verdi', 'presto', '--profile-name', self.name, '--use-zeromq')
        self.verdi('config', 'set', 'daemon.timeout', '30')
        self.cli('setup')
        return self

    def script(self, name: str, text: str, *arguments) -> dict:
        """Run the Python ``text`` (saved as ``name``) with ``verdi run``; return the JSON of its last line."""
        path = self.path / name
        path.write_text(text)
        result = self.verdi('run', path, *arguments)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start_daemon(self, workers: int = 1) -> None:
        self.verdi('daemon', 'start', str(workers))

    def kill(self) -> int:
        """SIGKILL the daemon, its workers and the broker, as a crash would; return how many processes died."""
        return kill_daemon(self.path)

    def recover(self) -> str:
        """The documented recovery: ``mlip-autopipe recover``; return its output."""
        return self.cli('recover').stdout

    def stop(self) -> None:
        """Stop the daemon (and kill what is left of it)."""
        subprocess.run([BIN / 'verdi', '-p', self.name, 'daemon', 'stop'], env=self.env, capture_output=True)
        kill_daemon(self.path)


def wait_for(read, predicate, timeout: float, interval: float = 3.0):
    """Call ``read()`` every ``interval`` s until ``predicate`` holds for what it returns; return that."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = read()
        if predicate(state):
            return state
        time.sleep(interval)
    raise TimeoutError(f'condition not met in {timeout} s; last state {state}')
