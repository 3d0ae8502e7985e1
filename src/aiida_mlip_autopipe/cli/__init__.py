"""``mlip-autopipe``: the command line of the plugin."""

from __future__ import annotations

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
    metavar='LABEL=PATH',
    help='Executable of a code instead of the default, e.g. `--code pw=/opt/qe/bin/pw.x` (repeatable).',
)
@click.option(
    '--pseudo-folder',
    default=None,
    help="Folder of UPF files for the pseudo family (default: Debian's /usr/share/espresso/pseudo).",
)
@click.option('--family', 'family_label', default=None, help='Label of the pseudo family to install.')
@click.pass_obj
def setup(obj, computer, scheduler, mpiprocs, executables, pseudo_folder, family_label):
    """Register the local computer (direct or Slurm), the codes and the pseudo family (idempotent)."""
    from ..pseudos import DEBIAN_PSEUDO_DIR, DEFAULT_FAMILY_LABEL, install_pseudo_family
    from ..setup import CODES, default_executable, ensure_code, ensure_localhost

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
    for label, (plugin, _) in CODES.items():
        executable = chosen.get(label, default_executable(label))
        try:
            if label == 'lmp':
                from ..exploration.lammps import check_lammps

                check_lammps(executable)  # pair_style pace/extrapolation must be compiled in
            code = ensure_code(label, node, plugin, executable)
        except (FileNotFoundError, ValueError, RuntimeError) as exception:
            raise click.ClickException(str(exception)) from exception
        click.echo(f'code      {code.full_label} -> {code.filepath_executable}')
    try:
        family = install_pseudo_family(family_label or DEFAULT_FAMILY_LABEL, pseudo_folder or DEBIAN_PSEUDO_DIR)
    except FileNotFoundError as exception:
        raise click.ClickException(str(exception)) from exception
    click.echo(f'pseudos   {family.label}: {", ".join(sorted(family.elements))}')


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
