"""Find and kill the daemon processes of a temporary AiiDA configuration (shared by the daemon tests)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil


def daemon_processes(aiida_path: Path) -> list[psutil.Process]:
    """Return the daemon processes (circus, its statistics, workers, ZeroMQ broker) of ``AIIDA_PATH=aiida_path``.

    The daemon runs with ``AIIDA_PATH`` pointing at the configuration folder itself
    (``<aiida_path>/.aiida``), so both forms are matched.
    """
    paths = (str(aiida_path), str(Path(aiida_path) / '.aiida'))
    found = []
    for process in psutil.process_iter(['pid', 'environ', 'cmdline']):
        try:
            environ = process.info['environ'] or {}
            cmdline = ' '.join(process.info['cmdline'] or [])
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        is_daemon = 'verdi' in cmdline or 'circus' in cmdline  # circus runs its statistics in a child process
        if process.pid != os.getpid() and environ.get('AIIDA_PATH') in paths and is_daemon:
            found.append(process)
    return found


def sigkill(processes: list[psutil.Process]) -> None:
    """Send SIGKILL to each of ``processes``, as a crash would; those already gone are skipped."""
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def kill_daemon(aiida_path: Path) -> int:
    """SIGKILL every daemon process of ``aiida_path``; return how many there were."""
    processes = daemon_processes(aiida_path)
    sigkill(processes)
    psutil.wait_procs(processes, timeout=10)
    return len(processes)
