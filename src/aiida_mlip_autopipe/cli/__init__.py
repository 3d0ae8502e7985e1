"""``mlip-autopipe``: the command line of the plugin."""

from __future__ import annotations

from pathlib import Path

import click


def _load_profile(profile: str | None):
    from aiida import load_profile

    return load_profile(profile, allow_switch=True)


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.option('-p', '--profile', default=None, help='AiiDA profile (default: the default profile).')
@click.pass_context
def cli(ctx, profile):
    """Machine-learning interatomic potentials with AiiDA, with no human in the loop."""
    ctx.obj = {'profile': profile}


@cli.command()
@click.option(
    '--computer', default=None, help='Label of the computer (default: `localhost`; `slurm` with `--scheduler slurm`).'
)
@click.option(
    '--scheduler',
    type=click.Choice(['direct', 'slurm']),
    default='direct',
    show_default=True,
    help='`slurm`: a `core.slurm` computer on this machine (Slurm must answer; see docs/production.rst).',
)
@click.option('--mpiprocs', default=1, show_default=True, help='Default MPI processes per job.')
@click.option(
    '--code',
    'executables',
    multiple=True,
    metavar='LABEL=PATH|CODE',
    help='Executable of a code instead of the default, e.g. `--code pw=/opt/qe/bin/pw.x`, or a code already '
    'registered, e.g. `--code lmp=lammps@cluster` (repeatable). pacemaker: the Python of its environment or its '
    '`pacemaker` script.',
)
@click.option(
    '--pseudo-folder',
    default=None,
    help="Folder of UPF files for the pseudo family (default: Debian's /usr/share/espresso/pseudo).",
)
@click.option('--family', 'family_label', default=None, help='Label of the pseudo family to install.')
@click.pass_obj
def setup(obj, computer, scheduler, mpiprocs, executables, pseudo_folder, family_label):
    """Register the local computer (direct or Slurm), the codes and the pseudo family (idempotent).

    Codes come from `mlip-autopipe install-codes` by default; `--code` gives your own executable or
    an existing code instead. Codes other than the campaign file's defaults are printed as the
    `codes:` section to put in your campaign files.
    """
    from ..campaign.config import Codes
    from ..pseudos import DEBIAN_PSEUDO_DIR, DEFAULT_FAMILY_LABEL, install_pseudo_family
    from ..setup import CODES, code_from_label, default_executable, ensure_code, ensure_localhost, pacemaker_python

    chosen = dict(item.split('=', 1) for item in executables if '=' in item)
    unknown = sorted(set(chosen) - set(CODES))
    if unknown or len(chosen) != len(executables):
        raise click.BadParameter(f'give LABEL=PATH with LABEL one of {", ".join(CODES)}', param_hint='--code')

    profile = _load_profile(obj['profile'])
    if scheduler == 'slurm':
        from ..production import DEFAULT_SLURM_COMPUTER, ensure_slurm_computer

        try:
            node = ensure_slurm_computer(computer or DEFAULT_SLURM_COMPUTER, mpiprocs=mpiprocs)
        except (RuntimeError, ValueError) as exception:
            raise click.ClickException(str(exception)) from exception
    else:
        node = ensure_localhost(computer or 'localhost', mpiprocs=mpiprocs)
    click.echo(f'profile   {profile.name}')
    click.echo(f'computer  {node.label}: mpirun `{" ".join(node.get_mpirun_command())}`')
    used = {}
    for label, (plugin, _) in CODES.items():
        executable = chosen.get(label, default_executable(label))
        try:
            existing = code_from_label(label, chosen[label]) if label in chosen else None
            if existing is not None:
                used[label] = existing.full_label
                click.echo(f'code      {existing.full_label} (registered before, used as it is)')
                continue
            if label == 'lmp':
                from ..exploration.lammps import check_lammps

                check_lammps(executable)  # pair_style pace/extrapolation must be compiled in
            elif label == 'pacemaker':
                executable = pacemaker_python(executable)
            code = ensure_code(label, node, plugin, executable)
        except (FileNotFoundError, ValueError, RuntimeError) as exception:
            raise click.ClickException(str(exception)) from exception
        used[label] = code.full_label
        click.echo(f'code      {code.full_label} -> {code.filepath_executable}')
    try:
        family = install_pseudo_family(family_label or DEFAULT_FAMILY_LABEL, pseudo_folder or DEBIAN_PSEUDO_DIR)
    except FileNotFoundError as exception:
        raise click.ClickException(str(exception)) from exception
    click.echo(f'pseudos   {family.label}: {", ".join(sorted(family.elements))}')
    defaults = Codes().model_dump()
    fields = {label: full_label for label, full_label in used.items() if label in defaults}  # the file's fields
    if any(full_label != defaults[label] for label, full_label in fields.items()):
        click.echo('campaign files need these codes (the defaults differ):')
        click.echo('codes:')
        for label, full_label in fields.items():
            click.echo(f'  {label}: {full_label}')


@cli.command('install-codes')
@click.argument('names', nargs=-1, metavar='[pacemaker|lammps|surrogate]...')
@click.option(
    '--cache',
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help='Where the environments go (default: $MLIP_AUTOPIPE_CACHE or ~/.cache/mlip-autopipe).',
)
@click.option('--jobs', type=int, default=None, help='Parallel compile jobs of the LAMMPS build (default: all cores).')
def install_codes(names, cache, jobs):
    """Build the codes' own environments (default: all): pacemaker, LAMMPS with ML-PACE, CHGNet.

    Each is built once into the cache folder and checked on later runs (seconds). Then register
    them with `mlip-autopipe setup` (which finds them there). The LAMMPS build fetches Debian's
    source package with apt-get and installs cmake and g++ from Debian when they are missing.
    """
    from ..installers import INSTALLERS, InstallError, install
    from ..setup import cache_dir

    unknown = [name for name in names if name not in INSTALLERS]
    if unknown:
        raise click.BadParameter(
            f'unknown {", ".join(unknown)}; choose from {", ".join(INSTALLERS)}', param_hint='NAMES'
        )
    cache = cache if cache is not None else cache_dir()
    for name in names or tuple(INSTALLERS):
        click.echo(f'{name}: {INSTALLERS[name].description}')
        try:
            built = install(name, cache, jobs)
        except InstallError as exception:
            raise click.ClickException(str(exception)) from exception
        for label, executable in built.items():
            click.echo(f'code      {label} -> {executable}')
    hint = '' if cache == cache_dir() else f' (with MLIP_AUTOPIPE_CACHE={cache} set)'
    click.echo(f'register them with `mlip-autopipe setup`{hint}')


def _add_campaign_commands():
    from .campaign import check, export, status, submit

    cli.add_command(check)
    cli.add_command(submit)
    cli.add_command(status)
    cli.add_command(export)


_add_campaign_commands()

from .validate import validate  # noqa: E402

cli.add_command(validate)


@cli.command()
@click.option('--workers', default=1, show_default=True, help='Daemon workers to start.')
@click.pass_obj
def recover(obj, workers):
    """Start the daemon again after it died (SIGKILL, reboot): clears what the dead one left, then starts.

    Running processes continue where they were; finished calculations are not run again.
    """
    from . import daemon

    profile = _load_profile(obj['profile'])
    try:
        removed = daemon.restart_daemon_after_crash(profile, number_workers=workers)
    except RuntimeError as exception:
        raise click.ClickException(str(exception)) from exception
    for path in removed:
        click.echo(f'removed stale broker file {path}')
    click.echo(f'daemon of profile `{profile.name}` started with {workers} worker(s)')
