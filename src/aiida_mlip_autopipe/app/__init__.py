"""AiiDAlab app: set up, launch and watch an active-learning campaign from the browser.

Install the ``gui`` extra (``pip install 'aiida-mlip-autopipe[gui]'``) and open
``mlip_autopipe.ipynb`` with Voila, or install the repository as an AiiDAlab app.
"""

from __future__ import annotations


def create_app(interval: float = 5.0, campaign_dir: str | None = None):
    """Return the four-step campaign wizard for the loaded AiiDA profile.

    Parameters
    ----------
    interval
        Seconds between the monitor's automatic refreshes.
    campaign_dir
        Where submitted campaign files are written (default ``~/mlip-autopipe/campaigns``).
    """
    from .views import CampaignWizard

    return CampaignWizard(interval=interval, campaign_dir=campaign_dir)


__all__ = ['create_app']
