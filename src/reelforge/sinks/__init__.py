"""Sinks: deliver the job-event outbox to Notion, signed webhooks and JSONL files.

A :class:`SinkRunner` follows the ``job_events`` outbox with one durable cursor per sink and
hands each event, with its job, to every :class:`Sink` (at least once, in order, progress
ticks coalesced). :func:`sink_status` tells how far behind each sink is.
"""

from reelforge.sinks.base import (
    Sink,
    SinkDisabledError,
    SinkError,
    SinkEvent,
    SinkRejectedError,
    SinkUnavailableError,
)
from reelforge.sinks.runner import Backoff, SinkRunner, coalesce_progress
from reelforge.sinks.status import SinkStatus, sink_status

__all__ = [
    "Backoff",
    "Sink",
    "SinkDisabledError",
    "SinkError",
    "SinkEvent",
    "SinkRejectedError",
    "SinkRunner",
    "SinkStatus",
    "SinkUnavailableError",
    "coalesce_progress",
    "sink_status",
]
