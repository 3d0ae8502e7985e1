"""Fixtures of the production tests: PostgreSQL + RabbitMQ, a one-node Slurm cluster, a profile and its daemon.

Everything a fixture starts is stopped by its finalizer, also when a test fails. The services are
registered with ``scripts/production/services.sh`` under this session's name and pid: when the
production stack or another test session already runs them, they are used and left running.
Each session gets its own PostgreSQL database + role and RabbitMQ virtual host + user, dropped at
the end, and its own Slurm cluster on free ports in a private directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from ..daemon_processes import sigkill

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'
DAEMON_WORKERS = 2


def pytest_collection_modifyitems(config, items):
    """Run the production tests last: they switch the loaded profile while they run."""
    production = [item for item in items if item.get_closest_marker('production')]
    others = [item for item in items if not item.get_closest_marker('production')]
    items[:] = others + production


def run_script(*arguments, stdin: str | None = None, env: dict | None = None, timeout: float = 300):
    """Run one of our bash scripts; raise with its output if it fails."""
    result = subprocess.run(
        ['bash', *map(str, arguments)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f'{arguments} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}')
    return result.stdout


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(('127.0.0.1', 0))
        return handle.getsockname()[1]


@pytest.fixture(scope='session')
def session_name():
    """A name for this session's database, role, virtual host and user."""
    return f'mlip_autopipe_test_{secrets.token_hex(4)}'


@pytest.fixture(scope='session')
def production_services(session_name):
    """PostgreSQL and RabbitMQ running (installed and started if needed; stopped at the end if we started them)."""
    environment = {'MLIP_AUTOPIPE_SERVICES_PID': str(os.getpid())}
    try:
        yield run_script(SCRIPTS / 'production' / 'services.sh', 'start', session_name, env=environment)
    finally:
        run_script(SCRIPTS / 'production' / 'services.sh', 'stop', session_name, env=environment, timeout=120)


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(processes: list[psutil.Process], timeout: float = 30) -> None:
    """Wait until every process has exited (a zombie counts as exited)."""
    deadline = time.monotonic() + timeout
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)


@pytest.fixture(scope='session')
def slurm_cluster():
    """A one-node Slurm cluster (munge included) in a private directory on free ports; ``SLURM_CONF`` set."""
    directory = tempfile.mkdtemp(prefix='mlip-slurm-')
    environment = {
        'MLIP_AUTOPIPE_SLURM_DIR': directory,
        'SLURMCTLD_PORT': str(free_port()),
        'SLURMD_PORT': str(free_port()),
    }
    previous = os.environ.get('SLURM_CONF')
    try:
        run_script(SCRIPTS / 'slurm' / 'start.sh', env=environment, timeout=300)
        os.environ['SLURM_CONF'] = f'{directory}/slurm.conf'
        yield Path(directory)
    finally:
        run_script(SCRIPTS / 'slurm' / 'stop.sh', env=environment, timeout=120)
        if previous is None:
            os.environ.pop('SLURM_CONF', None)
        else:
            os.environ['SLURM_CONF'] = previous
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope='session')
def production_profile(aiida_config, production_services, session_name, tmp_path_factory):
    """A ``core.psql_dos`` + ``core.rabbitmq`` profile in the test's AiiDA configuration, loaded while in use.

    Created by :func:`aiida_mlip_autopipe.production.ensure_production_profile`, as the production
    set-up does, on a database and virtual host of this session; caching is off so that every
    calculation really runs.
    """
    from aiida.manage.configuration import profile_context

    from aiida_mlip_autopipe.production import ensure_production_profile

    credentials = {
        'PG_DATABASE': session_name,
        'PG_USER': session_name,
        'PG_PASSWORD': secrets.token_hex(16),
        'RMQ_USER': session_name,
        'RMQ_PASSWORD': secrets.token_hex(16),
        'RMQ_VHOST': session_name,
    }
    database = SCRIPTS / 'production' / 'database.sh'
    broker = SCRIPTS / 'production' / 'broker.sh'
    try:
        run_script(database, 'create', session_name, stdin=credentials['PG_PASSWORD'] + '\n')
        run_script(broker, 'create', session_name, stdin=credentials['RMQ_PASSWORD'] + '\n')
        profile = ensure_production_profile(
            session_name,
            credentials,
            tmp_path_factory.mktemp('repository'),
            is_test_profile=True,
            caching=False,
        )
        with profile_context(profile, allow_switch=True):
            yield profile
        aiida_config.remove_profile(session_name).store()
    finally:
        # after the switch back to the test profile: the connections to this database are closed
        run_script(broker, 'drop', session_name, timeout=120)
        run_script(database, 'drop', session_name, timeout=120)


def daemon_processes(client) -> list[psutil.Process]:
    """The circus process of ``client``'s daemon and all its descendants (the workers)."""
    pid = client.get_daemon_pid()
    if pid is None:
        return []
    try:
        circus = psutil.Process(pid)
        return [circus, *circus.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_daemon(client) -> list[int]:
    """Kill the daemon and its workers with SIGKILL, as a crash would; return the pids killed."""
    processes = daemon_processes(client)
    sigkill(processes)
    wait_until_gone(processes)
    return [process.pid for process in processes]


@pytest.fixture(scope='session')
def production_daemon(production_profile, slurm_cluster):
    """The profile's daemon with two workers, started with ``SLURM_CONF`` in its environment."""
    from aiida.engine.daemon import client as daemon_client_module
    from aiida.engine.daemon.client import get_daemon_client

    client = get_daemon_client(production_profile.name)
    # the daemon client found `verdi` on PATH when imported; pytest may run without the venv on PATH
    verdi = daemon_client_module.VERDI_BIN
    daemon_client_module.VERDI_BIN = verdi or str(Path(sys.executable).parent / 'verdi')
    try:
        client.start_daemon(number_workers=DAEMON_WORKERS)
        yield client
    finally:
        daemon_client_module.VERDI_BIN = verdi
        try:
            if client.is_daemon_running:
                client.stop_daemon(wait=True, timeout=60)
        except Exception:
            kill_daemon(client)
        # a worker that did not stop within the timeout must not outlive the session
        kill_daemon(client)


@pytest.fixture(scope='session')
def runs_dir(tmp_path_factory):
    """Where every pw.x job appends its scheduler job id and working directory (see :func:`computer_prepend`)."""
    return tmp_path_factory.mktemp('runs')


def computer_prepend(log: Path, extra: str = '') -> str:
    """Prepend text of the test computers: each job records itself in ``log`` before pw.x starts."""
    return f'export OMP_NUM_THREADS=1\necho "${{SLURM_JOB_ID:-direct}} $PWD" >> {log}\n{extra}'.strip()


@pytest.fixture(scope='session')
def production_codes(production_profile, slurm_cluster, runs_dir, tmp_path_factory):
    """pw.x on a direct computer and on two Slurm computers (one with 2 s longer jobs), and the pseudo family."""
    from aiida_mlip_autopipe.production import ensure_slurm_computer
    from aiida_mlip_autopipe.pseudos import install_pseudo_family
    from aiida_mlip_autopipe.setup import configure_without_login_shell, ensure_code, ensure_localhost

    scratch = tmp_path_factory.mktemp('scratch')
    direct = ensure_localhost('direct-prod', workdir=str(scratch / 'direct'))
    direct.set_prepend_text(computer_prepend(runs_dir / 'direct.log'))
    # as the Slurm computers: no login shell, so that no user start-up file (pyenv, conda) runs per command
    configure_without_login_shell(direct)
    slurm = ensure_slurm_computer(
        'slurm-prod', workdir=str(scratch / 'slurm'), prepend_text=computer_prepend(runs_dir / 'slurm.log')
    )
    # jobs that last a little longer, so that the daemon is killed while one is in the queue
    slow = ensure_slurm_computer(
        'slurm-kill', workdir=str(scratch / 'kill'), prepend_text=computer_prepend(runs_dir / 'kill.log', 'sleep 2')
    )
    install_pseudo_family()
    computers = (direct, slurm, slow)
    return {computer.label: ensure_code('pw', computer, 'quantumespresso.pw', 'pw.x') for computer in computers}
