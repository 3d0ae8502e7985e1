"""``mlip-autopipe check``, ``submit`` and ``status``: check and launch a campaign, see where it stands."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument('campaign_file', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    '--offline',
    is_flag=True,
    help='Only the checks that need no AiiDA profile (every field of the file); skip codes and pseudopotentials.',
)
@click.pass_obj
def check(obj, campaign_file, offline):
    """Check CAMPAIGN_FILE as `submit` does, without submitting anything.

    First every field of the file (no profile needed), then what the profile must provide: the codes
    (set up, of the right plugin), the pseudo family, and the pw.x run built from the `dft` section.
    Each wrong field is named with what is allowed; the exit status is 1 if any is wrong.
    """
    from ..campaign.config import CampaignError, load_campaign
    from ..campaign.stages import resource_problems

    try:
        config = load_campaign(campaign_file)
    except CampaignError as exception:
        raise click.ClickException(str(exception)) from exception
    click.echo(f'fields      ok: campaign `{config.name}`, {", ".join(config.elements)}, protocol {config.protocol}')
    if offline:
        click.echo('resources   not checked (--offline)')
        return
    from aiida import load_profile

    profile = load_profile(obj['profile'], allow_switch=True)
    problems = resource_problems(config)
    if problems:
        raise click.ClickException(f'campaign cannot run in profile `{profile.name}`:\n  ' + '\n  '.join(problems))
    click.echo(f'resources   ok in profile `{profile.name}`: codes, pseudopotentials, {config.labeller} labeller')


@click.command()
@click.argument('campaign_file', type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option('--foreground', is_flag=True, help='Run here and wait, instead of submitting to the daemon.')
@click.pass_obj
def submit(obj, campaign_file, foreground):
    """Validate CAMPAIGN_FILE and launch the active-learning campaign."""
    from aiida import load_profile

    from ..campaign.launch import launch_campaign

    load_profile(obj['profile'], allow_switch=True)
    try:
        node = launch_campaign(campaign_file, foreground=foreground)
    except (ValueError, RuntimeError) as exception:
        raise click.ClickException(str(exception)) from exception
    verb = 'finished' if foreground else 'submitted'
    click.echo(f'{verb} ActiveLearningWorkChain<{node.pk}>; follow it with `mlip-autopipe status {node.pk}`')


@click.command()
@click.argument('pk', type=int)
@click.option(
    '--plot',
    'plot_path',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Where to write the learning-curve PNG (default: campaign_<pk>_learning_curve.png).',
)
@click.pass_obj
def status(obj, pk, plot_path):
    """Show the iteration table of campaign PK and write its learning curve."""
    from aiida import load_profile, orm

    from ..campaign.status import describe_campaign

    load_profile(obj['profile'], allow_switch=True)
    node = orm.load_node(pk)
    click.echo(describe_campaign(node, plot_path or Path(f'campaign_{pk}_learning_curve.png')))


@click.command()
@click.argument('pk', type=int)
@click.argument('folder', type=click.Path(file_okay=False, path_type=Path))
@click.option(
    '--force', is_flag=True, help='Write into a folder that is not empty (files of the same names are replaced).'
)
@click.pass_obj
def export(obj, pk, folder, force):
    """Write the potential of campaign PK (or AcePotential PK) into FOLDER, ready for LAMMPS and ASE.

    FOLDER gets the potential's files, in.lammps and use_with_ase.py running an example structure,
    the training set as extended XYZ, the validation report and metadata.json (provenance); see
    README.txt there.
    """
    from aiida import load_profile, orm
    from aiida.common.exceptions import NotExistent

    from ..campaign.export import ExportError, export_node

    load_profile(obj['profile'], allow_switch=True)
    try:
        node = orm.load_node(pk)
    except NotExistent:
        raise click.ClickException(f'no node with pk {pk} in this profile') from None
    try:
        written = export_node(node, folder, force=force)
    except ExportError as exception:
        raise click.ClickException(str(exception)) from exception
    kind = node.process_label if isinstance(node, orm.ProcessNode) else type(node).__name__
    click.echo(f'exported {kind}<{pk}> to {folder.resolve()}: {", ".join(sorted(written))}')
