"""Sinks: deliver the job-event outbox to Notion, signed webhooks and JSONL files.

A :class:`SinkRunner` follows the ``job_events`` outbox with one durable cursor per sink and
hands each event, with its job, to every :class:`Sink` (at least once, in order, progress
ticks coalesced). :func:`sink_status` tells how far behind each sink is. A receiver of our
webhooks checks them with :func:`verify_webhook` (see ``docs/webhooks.md``).
"""

from reelforge.sinks.base import (
    Sink,
    SinkDisabledError,
    SinkError,
    SinkEvent,
    SinkRejectedError,
    SinkUnavailableError,
)
from reelforge.sinks.jsonl import JsonlSink
from reelforge.sinks.runner import Backoff, SinkRunner, coalesce_progress
from reelforge.sinks.status import SinkStatus, sink_status
from reelforge.sinks.verify import InvalidWebhookError, verify_webhook
from reelforge.sinks.webhook import WebhookSink

__all__ = [
    "Backoff",
    "InvalidWebhookError",
    "JsonlSink",
    "Sink",
    "SinkDisabledError",
    "SinkError",
    "SinkEvent",
    "SinkRejectedError",
    "SinkRunner",
    "SinkStatus",
    "SinkUnavailableError",
    "WebhookSink",
    "coalesce_progress",
    "sink_status",
    "verify_webhook",
]
