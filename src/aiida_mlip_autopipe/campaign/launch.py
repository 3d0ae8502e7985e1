"""Turn a campaign file into a running ``ActiveLearningWorkChain`` (after every check).

:func:`check_campaign` is the one check that ``mlip-autopipe submit``, ``mlip-autopipe check``,
``verdi run examples/submit_campaign.py`` and the app run before anything is submitted: every field
of the file (:func:`~.config.campaign_from_dict`, no profile needed), then what the profile must
provide (:func:`~.stages.check_resources`: codes and their plugins, pseudopotentials, the pw.x run
built from ``dft``).
"""

from __future__ import annotations

from pathlib import Path

from aiida import orm

from .config import CampaignConfig, campaign_from_dict, load_campaign
from .stages import check_resources


def check_campaign(campaign: str | Path | dict, resources: bool = True) -> CampaignConfig:
    """Return the validated campaign (a file path or its content); raise ``CampaignError`` naming every wrong field.

    ``resources=False`` makes only the checks that need no AiiDA profile.
    """
    config = campaign_from_dict(campaign) if isinstance(campaign, dict) else load_campaign(campaign)
    if resources:
        check_resources(config)
    return config


def campaign_builder(path: str | Path):
    """Return the validated campaign and the work chain builder; raise ``ValueError`` naming what is wrong."""
    from .workchain import ActiveLearningWorkChain

    config = check_campaign(path)
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
