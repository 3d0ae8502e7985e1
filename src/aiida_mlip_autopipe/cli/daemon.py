"""Daemon operations of ``mlip-autopipe recover``: restart a profile's daemon after it died without cleaning up.

A SIGKILL, a power loss or the out-of-memory killer leave the daemon's files behind. On the
embedded default the ZeroMQ broker runs under the daemon; when it is killed, its files (pid, status
and the address of its sockets) stay behind, and a new worker that reads the old socket address
before the new broker has rewritten it waits on a dead endpoint forever. The broker's persisted
tasks are fine: only the stale files have to go before the daemon starts again.

The other half of recovery, that a step replayed after such a crash does not submit a child a
second time, is the work chains' :func:`aiida_mlip_autopipe.common.engine.submit_once`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import psutil

LOGGER = logging.getLogger(__name__)


def stale_broker_files(profile) -> list[Path]:
    """Return the ZeroMQ broker's pid, status and sockets files of ``profile`` if its process is gone."""
    if profile.process_control_backend != 'core.zeromq':
        return []
    from aiida.brokers.zeromq.service import ZeromqBrokerService
    from aiida.manage.configuration import get_config

    paths = get_config().filepaths(profile)['broker_service']
    layout = ZeromqBrokerService.FilepathLayout(paths['dir'], paths['log'])
    pid = None
    if layout.pid_file.exists():
        try:
            pid = int(layout.pid_file.read_text().split()[-1])
        except (ValueError, IndexError, OSError):
            pid = None
    if pid is not None and psutil.pid_exists(pid):
        return []
    return [path for path in (layout.pid_file, layout.status_file, layout.sockets_file) if path.exists()]


def _find_verdi(daemon_client) -> None:
    """Let the daemon find ``verdi`` beside this interpreter when the virtual environment is not activated."""
    bin_dir = Path(sys.executable).parent
    if daemon_client.VERDI_BIN is None and (bin_dir / 'verdi').exists():
        daemon_client.VERDI_BIN = str(bin_dir / 'verdi')
        os.environ['PATH'] = os.pathsep.join([str(bin_dir), os.environ.get('PATH', '')])


def restart_daemon_after_crash(profile, number_workers: int = 1) -> list[Path]:
    """Start the daemon of ``profile`` again after a crash; return the stale files that were removed.

    Refuses (``RuntimeError``) while a daemon is running: stop it first.
    """
    from aiida.engine.daemon import client as daemon_client

    _find_verdi(daemon_client)
    client = daemon_client.get_daemon_client(profile.name)
    pid = client.get_daemon_pid()  # a pid file a killed daemon left behind does not count
    if pid is not None and psutil.pid_exists(pid):
        raise RuntimeError(f'the daemon of profile `{profile.name}` is running; stop it with `verdi daemon stop` first')
    removed = stale_broker_files(profile)
    for path in removed:
        path.unlink(missing_ok=True)
        LOGGER.info('removed stale broker file %s', path)
    client.start_daemon(number_workers=number_workers)
    return removed
