"""Turn a campaign file into a running ``ActiveLearningWorkChain`` (after every check)."""

from __future__ import annotations

from pathlib import Path

from aiida import orm

from .config import CampaignConfig, load_campaign
from .stages import check_resources


def campaign_builder(path: str | Path):
    """Return the validated campaign and the work chain builder; raise ``ValueError`` naming what is wrong."""
    from .workchain import ActiveLearningWorkChain

    config: CampaignConfig = load_campaign(path)
    check_resources(config)
    builder = ActiveLearningWorkChain.get_builder()
    builder.campaign = orm.Dict(config.model_dump(mode='json'))
    builder.metadata.label = config.name
    builder.metadata.description = config.description or f'campaign {config.name} from {Path(path).name}'
    return config, builder


def launch_campaign(path: str | Path, foreground: bool = False):
    """Submit the campaign at ``path`` to the daemon (or run it here with ``foreground``); return its node."""
    from aiida.engine import run_get_node, submit

    _, builder = campaign_builder(path)
    if foreground:
        return run_get_node(builder).node
    from aiida.engine.daemon.client import get_daemon_client

    if not get_daemon_client().is_daemon_running:
        raise RuntimeError('the daemon is not running: start it with `verdi daemon start`, or run in the foreground')
    return submit(builder)
