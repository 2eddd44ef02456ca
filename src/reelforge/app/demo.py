"""The demo: the example campaign (a spring launch for a fictional sparkling water).

Twenty ad variations, five of which make a claim that compliance rejects; the file ships
inside the package (``reelforge/app/data/campaign.yaml``, also ``examples/campaign.yaml`` in
the repository).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from reelforge.campaign import Campaign

__all__ = ["demo_campaign", "demo_campaign_path"]


def demo_campaign_path() -> Path:
    """Where the example campaign file is installed."""
    return Path(str(resources.files("reelforge.app") / "data" / "campaign.yaml"))


def demo_campaign() -> Campaign:
    """The example campaign, loaded and checked."""
    return Campaign.load(demo_campaign_path())
