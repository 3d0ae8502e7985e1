"""``mlip-autopipe submit`` and ``mlip-autopipe status``: launch a campaign and see where it stands."""

from __future__ import annotations

from pathlib import Path

import click


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

    from ..campaign.status import campaign_rows, format_table, format_validation, plot_learning_curve

    load_profile(obj['profile'], allow_switch=True)
    node = orm.load_node(pk)
    state = node.process_state.value if node.process_state else 'unknown'
    exit_status = f' [{node.exit_status}]' if node.exit_status is not None else ''
    click.echo(f'{node.process_label}<{pk}> `{node.label}`: {state}{exit_status} {node.exit_message or ""}'.rstrip())
    rows = campaign_rows(node)
    click.echo(format_table(rows))
    if 'summary' in node.outputs:
        summary = node.outputs.summary.get_dict()
        click.echo(
            f'stopped: {summary["stop_reason"]}; best iteration {summary["best_iteration"]}; '
            f'{summary["dft_calculations"]} labelling calculations'
        )
    if 'validation' in node.outputs:
        click.echo('validation (equation of state, potential vs labeller):')
        click.echo(format_validation(node.outputs.validation.get_dict()))
    if rows:
        path = plot_path or Path(f'campaign_{pk}_learning_curve.png')
        plot_learning_curve(rows, path)
        click.echo(f'learning curve: {path.resolve()}')
