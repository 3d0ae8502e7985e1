"""Register the computer, codes and pseudo family a campaign needs (idempotent)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from aiida import orm
from aiida.common.exceptions import MultipleObjectsError, NotExistent

LOGGER = logging.getLogger(__name__)

DEFAULT_COMPUTER = 'localhost'
#: Every job starts with this: one OpenMP thread, and no PYTHONPATH. The daemon exports its own
#: ``sys.path`` as PYTHONPATH, which would make the codes' own environments (pacemaker, the
#: surrogate) import the plugin environment's packages instead of theirs.
JOB_PREPEND_TEXT = 'export OMP_NUM_THREADS=1\nunset PYTHONPATH'


def cache_dir() -> Path:
    """Return where heavy builds and the codes' own environments live, outside any clone.

    ``$MLIP_AUTOPIPE_CACHE``, by default ``~/.cache/mlip-autopipe``; ``mlip-autopipe install-codes``
    (which ``make setup`` runs) fills it.
    """
    return Path(os.environ.get('MLIP_AUTOPIPE_CACHE', Path.home() / '.cache' / 'mlip-autopipe'))


#: Code label -> (calculation plugin, default executable: a name on PATH, a path under
#: :func:`cache_dir` written with ``{cache}``, or ``{python}``: the Python running setup). Each stage adds its
#: code here.
CODES = {
    'pw': ('quantumespresso.pw', 'pw.x'),
    'surrogate': ('mlip_autopipe.surrogate', '{cache}/surrogate-chgnet-0.4.2/bin/python'),
    # LAMMPS with ML-PACE (pace/extrapolation), built by installers/lammps.sh (`mlip-autopipe install-codes`);
    # the MD runs go through aiida-lammps' `lammps.raw` CalcJob (LammpsMdWorkChain)
    'lmp': ('lammps.raw', '{cache}/lammps-mlpace-20250204-pyace0.4.0rc1-mc/bin/lmp'),
    # the Python of pacemaker's own environment (installers/pacemaker.sh); PacemakerCalculation's
    # driver runs pacemaker, pace_yaml2yace and pace_activeset from the same bin folder
    'pacemaker': ('mlip_autopipe.pacemaker', '{cache}/pacemaker-pyace0.4.0rc1-tp0.6.2.1-tf2.20.0/bin/python'),
    # the plugin's own Python: the validation's properties and MD in ASE and the exploration's selection run
    # as PythonTaskCalculation jobs with it, not inside the daemon worker
    'python': ('mlip_autopipe.python_task', '{python}'),
}


def default_executable(label: str, cache: Path | None = None) -> str:
    """Return the default executable of code ``label`` with ``{cache}`` filled in (default :func:`cache_dir`)."""
    return CODES[label][1].format(cache=cache if cache is not None else cache_dir(), python=sys.executable)


def mpirun_command() -> list[str]:
    """Return the mpirun command: as root OpenMPI needs ``--allow-run-as-root``; ``--bind-to none`` because
    each job's mpirun binds its ranks to the first cores, so that jobs running side by side on one machine
    all shared core 0 (measured: two pw.x runs at 50 % each, affinity mask 1, the other core idle)."""
    command = ['mpirun']
    if os.geteuid() == 0:
        command.append('--allow-run-as-root')
    return [*command, '--bind-to', 'none', '-np', '{tot_num_mpiprocs}']


def load_or_create_local_computer(
    label: str,
    scheduler_type: str,
    description: str,
    workdir: str | None = None,
    prepend_text: str = JOB_PREPEND_TEXT,
    poll_interval: float = 1.0,
) -> orm.Computer:
    """Return computer ``label``, or create it on this machine (``core.local`` transport).

    A new computer works in ``<AiiDA config>/scratch/<profile>`` unless ``workdir`` is given.
    """
    try:
        return orm.load_computer(label)
    except NotExistent:
        pass
    if workdir is None:
        from aiida.manage import get_config, get_manager

        workdir = str(Path(get_config().dirpath) / 'scratch' / get_manager().get_profile().name)
    computer = orm.Computer(
        label=label,
        hostname='localhost',
        description=description,
        transport_type='core.local',
        scheduler_type=scheduler_type,
        workdir=workdir,
    ).store()
    computer.set_prepend_text(prepend_text)
    computer.set_minimum_job_poll_interval(poll_interval)
    LOGGER.info('created computer %s', label)
    return computer


def configure_without_login_shell(computer: orm.Computer) -> None:
    """Configure ``computer`` for the default user with ``use_login_shell=False`` (and ``safe_interval=0`` when new).

    With a login shell (AiiDA's default) every ``sbatch``/``squeue`` and file command of the daemon
    runs ``bash -l``, which reads the user's shell start-up files. On this machine ``~/.bashrc``
    runs ``pyenv init``, whose ``pyenv rehash`` takes a lock file: a daemon killed with SIGKILL
    while such a shell was starting leaves the lock behind, and from then on every login shell
    waits 60 s for it, so each scheduler poll took a minute and the calculation looked stuck at
    "Monitoring scheduler: job state UNKNOWN". The jobs need nothing from the login environment
    (the computer's prepend text sets what they need), so they run without it.
    """
    if not computer.is_configured:
        computer.configure(safe_interval=0.0, use_login_shell=False)
        return
    authinfo = computer.get_authinfo(orm.User.collection.get_default())
    if authinfo.get_auth_params().get('use_login_shell', True):
        computer.configure(use_login_shell=False)


def configure_local_computer(computer: orm.Computer, mpiprocs: int) -> orm.Computer:
    """Return ``computer`` set up as the local computers of this plugin are, whatever their scheduler.

    Its mpirun command is corrected (``--allow-run-as-root`` when running as root, see
    :func:`mpirun_command`), it runs ``mpiprocs`` processes per machine by default, without double
    quotes around the command line and without a login shell (:func:`configure_without_login_shell`).
    """
    if computer.get_mpirun_command() != mpirun_command():
        computer.set_mpirun_command(mpirun_command())
    computer.set_default_mpiprocs_per_machine(mpiprocs)
    computer.set_use_double_quotes(False)
    configure_without_login_shell(computer)
    return computer


def ensure_localhost(label: str = DEFAULT_COMPUTER, mpiprocs: int = 1, workdir: str | None = None) -> orm.Computer:
    """Return the local computer ``label``, creating and configuring it if needed.

    An existing computer keeps its settings, except that its mpirun command is corrected when
    running as root without ``--allow-run-as-root``, ``unset PYTHONPATH`` is added to its
    prepend text (see :data:`JOB_PREPEND_TEXT`) and it runs without a login shell
    (:func:`configure_without_login_shell`).
    """
    computer = load_or_create_local_computer(
        label, 'core.direct', 'This machine, direct scheduler (created by mlip-autopipe setup)', workdir
    )
    if 'unset PYTHONPATH' not in computer.get_prepend_text():
        computer.set_prepend_text('\n'.join(filter(None, [computer.get_prepend_text(), 'unset PYTHONPATH'])))
    return configure_local_computer(computer, mpiprocs)


def plugin_prepend_text() -> str:
    """Return the prepend text of the ``python`` code: the jobs import this plugin from where this process does.

    The jobs start with ``unset PYTHONPATH`` (:data:`JOB_PREPEND_TEXT`); the ``python`` code puts the folder
    that holds the imported ``aiida_mlip_autopipe`` package back, so a task job runs the same plugin source as
    the daemon that submitted it (for an installed plugin that folder is the environment's own
    ``site-packages``, already on its path).
    """
    import aiida_mlip_autopipe

    return f'export PYTHONPATH={Path(aiida_mlip_autopipe.__file__).resolve().parent.parent}'


def ensure_code(label: str, computer: orm.Computer, plugin: str, executable: str) -> orm.InstalledCode:
    """Return the code ``label@computer``, registering ``executable`` for ``plugin`` if needed.

    A new ``python`` code gets :func:`plugin_prepend_text`.
    """
    path = shutil.which(executable) or executable
    if not Path(path).is_file():
        raise FileNotFoundError(
            f'executable `{executable}` for code `{label}` not found; build it with `mlip-autopipe install-codes`, '
            'or give its path or the label of a registered code with `--code`'
        )
    try:
        code = orm.load_code(f'{label}@{computer.label}')
    except NotExistent:
        code = orm.InstalledCode(
            label=label,
            computer=computer,
            filepath_executable=path,
            default_calc_job_plugin=plugin,
            description=f'{executable} registered by mlip-autopipe setup',
            prepend_text=plugin_prepend_text() if plugin == CODES['python'][0] else '',
        ).store()
        LOGGER.info('registered code %s@%s -> %s', label, computer.label, path)
        return code
    if plugin == CODES['python'][0] and (str(code.filepath_executable), code.prepend_text) != (
        path,
        plugin_prepend_text(),
    ):
        return replace_python_code(code, label, computer, plugin, path)
    accepted = (plugin, *COMPATIBLE_PLUGINS.get(label, ()))
    if str(code.filepath_executable) != path or code.default_calc_job_plugin not in accepted:
        raise ValueError(
            f'code `{label}@{computer.label}` exists with {code.filepath_executable} ({code.default_calc_job_plugin}); '
            f'expected {path} ({" or ".join(accepted)}); relabel or delete it first'
        )
    return code


def replace_python_code(
    code: orm.InstalledCode, label: str, computer: orm.Computer, plugin: str, path: str
) -> orm.InstalledCode:
    """Return a new ``python`` code for ``path`` after relabelling ``code``, which runs another plugin source.

    The ``python`` code belongs to the plugin installation that registered it (its executable and its
    PYTHONPATH, :func:`plugin_prepend_text`): setup from another clone or environment re-points it. The old
    code keeps its jobs' provenance under the label ``<label>-superseded-<pk>``.
    """
    old_label = code.label
    code.label = f'{label}-superseded-{code.pk}'
    LOGGER.warning(
        'code %s@%s ran %s; relabelled %s and registered %s',
        old_label,
        computer.label,
        code.filepath_executable,
        code.full_label,
        path,
    )
    return ensure_code(label, computer, plugin, path)


#: The executables PacemakerCalculation's driver runs from the bin folder of the code's Python.
PACEMAKER_EXECUTABLES = ('pacemaker', 'pace_yaml2yace', 'pace_activeset')


def pacemaker_python(executable: str) -> str:
    """Return the Python to register as the ``pacemaker`` code for ``executable``.

    ``executable`` is the Python of an environment with python-ace, or one of its scripts
    (``pacemaker``, ``pace_activeset``...): a script is replaced by the interpreter of its ``#!``
    line. The three executables of :data:`PACEMAKER_EXECUTABLES` must lie beside that Python.

    Raises
    ------
    FileNotFoundError
        ``executable`` does not exist, or the pacemaker scripts are not beside its Python.
    """
    path = Path(shutil.which(executable) or executable)
    if not path.is_file():
        raise FileNotFoundError(f'executable `{executable}` for code `pacemaker` not found')
    if path.name.startswith('pace'):
        with path.open('rb') as handle:
            first = handle.readline().decode(errors='replace')
        if first.startswith('#!'):
            words = first[2:].split()
            if words and Path(words[0]).name == 'env' and len(words) > 1:
                words = [shutil.which(words[1]) or words[1]]
            if words:
                path = Path(words[0])
    missing = [name for name in PACEMAKER_EXECUTABLES if not (path.parent / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f'code `pacemaker`: {path.parent} lacks {", ".join(missing)}; give the Python (or the `pacemaker` '
            'script) of the environment where python-ace is installed'
        )
    return str(path)


def code_from_label(label: str, value: str) -> orm.AbstractCode | None:
    """Return the registered code named ``value`` (``name@computer`` or a pk) for ``label``, or None if none is.

    Raises
    ------
    ValueError
        The code exists but is registered for a calculation plugin that cannot run ``label``'s jobs.
    """
    try:
        code = orm.load_code(value)
    except (NotExistent, ValueError):
        return None
    except MultipleObjectsError:
        raise ValueError(f'code label `{value}` for `{label}` matches several codes; give `name@computer`') from None
    accepted = accepted_plugins(label)
    plugin = code.default_calc_job_plugin
    if plugin is not None and plugin not in accepted:
        raise ValueError(
            f'code `{code.full_label}` is registered for `{plugin}`; code `{label}` needs one of {", ".join(accepted)}'
        )
    return code


#: Code label -> further calculation plugins whose codes run ``label``'s jobs unchanged. The MD runs
#: give the code to aiida-lammps' ``lammps.raw`` whatever its default plugin: a code registered for
#: ``lammps.base``, or for this plugin's former ``mlip_autopipe.lammps.md`` CalcJob, works as it is.
COMPATIBLE_PLUGINS: dict[str, tuple[str, ...]] = {'lmp': ('lammps.base', 'mlip_autopipe.lammps.md')}


def accepted_plugins(label: str) -> tuple[str, ...]:
    """Return the calculation plugins a code registered for ``label`` may name as its default."""
    return (CODES[label][0], *COMPATIBLE_PLUGINS.get(label, ()))
