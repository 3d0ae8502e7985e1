"""Production set-up: a PostgreSQL + RabbitMQ profile and a Slurm computer (see ``docs/production.rst``).

The services themselves are started by ``scripts/production/setup.sh`` and ``scripts/slurm/start.sh``;
this module holds the AiiDA side: the profile and the computer.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
from pathlib import Path

from aiida import orm

from .setup import JOB_PREPEND_TEXT, configure_local_computer, load_or_create_local_computer

LOGGER = logging.getLogger(__name__)

DEFAULT_PROFILE = 'mlip-autopipe-production'
DEFAULT_SLURM_COMPUTER = 'slurm'
#: Keys of the credentials file written by ``scripts/production/setup.sh`` (``KEY=VALUE`` lines).
CREDENTIAL_KEYS = ('PG_DATABASE', 'PG_USER', 'PG_PASSWORD', 'RMQ_USER', 'RMQ_PASSWORD', 'RMQ_VHOST')


def read_credentials(path: str | Path) -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of a credentials file; raise ``ValueError`` naming a missing key."""
    credentials = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith('#'):
            key, _, value = line.partition('=')
            credentials[key.strip()] = value.strip()
    missing = [key for key in CREDENTIAL_KEYS if not credentials.get(key)]
    if missing:
        raise ValueError(f'credentials file {path} lacks {", ".join(missing)}')
    return credentials


def storage_config(credentials: dict[str, str], repository: str | Path, host: str = 'localhost', port: int = 5432):
    """Return the ``core.psql_dos`` storage configuration for ``credentials``."""
    return {
        'database_engine': 'postgresql_psycopg',
        'database_hostname': host,
        'database_port': port,
        'database_username': credentials['PG_USER'],
        'database_password': credentials['PG_PASSWORD'],
        'database_name': credentials['PG_DATABASE'],
        'repository_uri': Path(repository).absolute().as_uri(),
    }


def broker_config(credentials: dict[str, str], host: str = '127.0.0.1', port: int = 5672) -> dict:
    """Return the ``core.rabbitmq`` broker configuration for ``credentials``."""
    return {
        'broker_protocol': 'amqp',
        'broker_username': credentials['RMQ_USER'],
        'broker_password': credentials['RMQ_PASSWORD'],
        'broker_host': host,
        'broker_port': port,
        'broker_virtual_host': credentials['RMQ_VHOST'],
    }


def ensure_production_profile(
    name: str,
    credentials: dict[str, str],
    repository: str | Path | None = None,
    *,
    email: str = 'mlip-autopipe@localhost',
    is_test_profile: bool = False,
    caching: bool = True,
):
    """Return the ``core.psql_dos`` + ``core.rabbitmq`` profile ``name``, creating it if needed.

    The storage is initialised (migrated) and a default user created; with ``caching``, pw.x results
    are reused from the cache as in the embedded profile. Nothing secret is logged. The profile is not
    made the default: the embedded profile stays the default.
    """
    from aiida.manage.configuration import create_profile, get_config

    config = get_config(create=True)
    if name in config.profile_names:
        return config.get_profile(name)
    if repository is None:
        repository = Path(config.dirpath) / 'repository' / name
    profile = create_profile(
        config,
        storage_backend='core.psql_dos',
        storage_config=storage_config(credentials, repository),
        broker_backend='core.rabbitmq',
        broker_config=broker_config(credentials),
        name=name,
        email=email,
        is_test_profile=is_test_profile,
    )
    profile.set_option('daemon.timeout', 30)
    # consumer_timeout is undefined (scripts/production/services.sh), the fix this warning asks for
    profile.set_option('warnings.rabbitmq_version', False)
    if caching:
        profile.set_option('caching.enabled_for', ['aiida.calculations:quantumespresso.pw'])
    config.update_profile(profile)
    config.store()
    LOGGER.info('created profile %s (PostgreSQL database %s)', name, credentials['PG_DATABASE'])
    return profile


def check_slurm() -> str:
    """Return ``sinfo``'s node summary; raise ``RuntimeError`` saying how to start Slurm if it does not answer."""
    if shutil.which('sinfo') is None:
        raise RuntimeError('Slurm client commands are missing: run scripts/slurm/start.sh (installs slurm-client)')
    result = subprocess.run(['sinfo', '-h', '-N', '-o', '%N %T'], capture_output=True, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        conf = os.environ.get('SLURM_CONF', '/etc/slurm/slurm.conf')
        raise RuntimeError(
            f'Slurm does not answer with SLURM_CONF={conf}: start it with scripts/slurm/start.sh and export '
            f'SLURM_CONF=<its directory>/slurm.conf before starting the daemon ({result.stderr.strip()})'
        )
    return result.stdout.strip()


def ensure_slurm_computer(
    label: str = DEFAULT_SLURM_COMPUTER,
    mpiprocs: int = 1,
    workdir: str | None = None,
    poll_interval: float = 1.0,
    prepend_text: str = JOB_PREPEND_TEXT,
    check: bool = True,
) -> orm.Computer:
    """Return the ``core.slurm`` computer ``label`` on this machine (``core.local`` transport), creating it if needed.

    The daemon calls ``sbatch``/``squeue`` itself, so it must run with the ``SLURM_CONF`` of the
    cluster in its environment. With ``check``, ``sinfo`` must answer first. An existing computer
    with another scheduler or transport raises ``ValueError``.
    """
    if check:
        LOGGER.info('slurm nodes: %s', check_slurm())
    computer = load_or_create_local_computer(
        label,
        'core.slurm',
        'This machine through Slurm (created by mlip-autopipe setup --scheduler slurm)',
        workdir,
        prepend_text=prepend_text,
        poll_interval=poll_interval,
    )
    if (computer.scheduler_type, computer.transport_type) != ('core.slurm', 'core.local'):
        raise ValueError(
            f'computer `{label}` exists with {computer.scheduler_type} over {computer.transport_type}; '
            'expected core.slurm over core.local: choose another label'
        )
    return configure_local_computer(computer, mpiprocs)


def main(argv: list[str] | None = None) -> None:
    """``python -m aiida_mlip_autopipe.production profile NAME CREDENTIALS``: used by the set-up script."""
    parser = argparse.ArgumentParser(prog='python -m aiida_mlip_autopipe.production')
    commands = parser.add_subparsers(dest='command', required=True)
    profile = commands.add_parser('profile', help='create the PostgreSQL + RabbitMQ profile if missing')
    profile.add_argument('name')
    profile.add_argument('credentials', help='file of KEY=VALUE lines (0600), never printed')
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='[production] %(message)s')
    created = ensure_production_profile(arguments.name, read_credentials(arguments.credentials))
    LOGGER.info(
        'profile %s: storage %s, broker %s', created.name, created.storage_backend, created.process_control_backend
    )


if __name__ == '__main__':
    main()
