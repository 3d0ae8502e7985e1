"""Build the codes' own environments: pacemaker, LAMMPS with ML-PACE, the CHGNet surrogate.

Each code gets an environment of its own under :func:`~aiida_mlip_autopipe.setup.cache_dir`, as it
would get a module on a cluster, built by a shell script shipped in this folder (package data, so
an installed wheel can run them: ``mlip-autopipe install-codes``; ``make setup`` calls the same
command). Each script is idempotent: a second run checks a stamp or the built executable and
takes seconds. After a script ends, the executable :data:`~aiida_mlip_autopipe.setup.CODES` names
for the code must exist, or the install counts as failed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

from ..setup import cache_dir, default_executable

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Installer:
    """A script that builds one code's environment, and the code labels (of ``CODES``) it provides."""

    script: str
    codes: tuple[str, ...]
    description: str


#: Installer name -> what it builds. The order is the order of ``mlip-autopipe install-codes``.
INSTALLERS = {
    'pacemaker': Installer(
        'pacemaker.sh',
        ('pacemaker',),
        'pacemaker, pace_yaml2yace and pace_activeset (python-ace 0.4.0rc1, TensorFlow CPU) in their own '
        'virtual environment; about 415 MB, a few minutes',
    ),
    'lammps': Installer(
        'lammps.sh',
        ('lmp',),
        'LAMMPS 4Feb2025 with ML-PACE, MANYBODY, EXTRA-FIX, EXTRA-COMPUTE and MC, built from checksummed '
        "sources (Debian's source package and python-ace's sdist); 10-25 min on 2 cores, needs cmake and g++",
    ),
    'surrogate': Installer(
        'surrogate.sh',
        ('surrogate',),
        'CHGNet 0.4.2 with a CPU build of torch 2.13 in its own virtual environment (pretrained weights '
        'inside the package, loads offline)',
    ),
}


class InstallError(RuntimeError):
    """An installer script failed or did not produce the executable of its code."""


def script_path(name: str) -> Path:
    """Return the path of installer ``name``'s script inside the installed package."""
    return Path(str(resources.files(__package__).joinpath(INSTALLERS[name].script)))


def installer_environment(cache: Path, jobs: int | None = None) -> dict[str, str]:
    """Return the environment the scripts run in: this one, plus where to build and which pip to use.

    ``PIP`` is this Python's pip (the LAMMPS build downloads python-ace's source distribution with
    it); ``PYTHONPATH`` is dropped so that the new environments import only their own packages.
    """
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    env['MLIP_AUTOPIPE_CACHE'] = str(cache)
    env['PIP'] = f'{sys.executable} -m pip'
    if jobs is not None:
        env['MLIP_AUTOPIPE_JOBS'] = str(jobs)
    return env


def install(name: str, cache: Path | None = None, jobs: int | None = None) -> dict[str, str]:
    """Run installer ``name`` (idempotent) and return ``{code label: executable}`` of what it built.

    Raises
    ------
    KeyError
        ``name`` is not one of :data:`INSTALLERS`.
    InstallError
        The script exited with an error, or its executable is missing afterwards.
    """
    if name not in INSTALLERS:
        raise KeyError(f'unknown code environment `{name}`; choose from {", ".join(INSTALLERS)}')
    cache = Path(cache) if cache is not None else cache_dir()
    env = installer_environment(cache, jobs)
    script = script_path(name)
    LOGGER.info('running %s (cache %s)', script, cache)
    result = subprocess.run(['bash', str(script)], env=env, check=False)
    if result.returncode != 0:
        raise InstallError(f'installing {name} failed: `bash {script}` exited with {result.returncode}')
    built = {}
    for label in INSTALLERS[name].codes:
        executable = default_executable(label, cache)
        if not Path(executable).is_file():
            raise InstallError(f'installing {name} ended without {executable}, the executable of code `{label}`')
        built[label] = executable
    return built
