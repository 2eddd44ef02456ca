"""Prometheus metrics of the served process (``GET /metrics``).

The counters are process-wide (``prometheus_client``'s default registry): every part of the
application increments them where the thing happens.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["WEBHOOKS_RECEIVED", "WEBHOOKS_REJECTED"]

WEBHOOKS_RECEIVED = Counter(
    "reelforge_webhook_deliveries_received",
    "Webhook deliveries accepted (signature and timestamp verified), by scheme.",
    ["scheme"],
)
WEBHOOKS_REJECTED = Counter(
    "reelforge_webhook_deliveries_rejected",
    "Webhook deliveries refused, by scheme and reason.",
    ["scheme", "reason"],
)
