"""Our tables, beside the durable engine's own (which we never touch).

Times are Unix seconds (floats, as :class:`reelforge.core.clock.Clock` gives them); money is
:class:`~reelforge.store.coltypes.Money`; states are the :class:`~reelforge.core.models.JobState`
values as text. The migrations in ``migrations/versions`` build exactly this schema (a test
compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from reelforge.store.coltypes import Money

__all__ = [
    "REMOTE_ID_MAX",
    "VERSION_TABLE",
    "assets",
    "batch_runners",
    "batches",
    "costs",
    "endpoint_capabilities",
    "executors",
    "include_name",
    "job_events",
    "jobs",
    "metadata",
    "sink_cursors",
    "sink_leases",
    "sink_pages",
    "webhook_deliveries",
]

VERSION_TABLE = "reelforge_alembic_version"
"""Alembic's bookkeeping table for our migrations (named so it cannot clash with anyone's)."""

REMOTE_ID_MAX = 1024
"""The longest remote id accepted: ids are opaque, and gateways wrap the upstream one."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("source", Text, nullable=True),
    Column("out_dir", Text, nullable=False),
    Column("budget_usd", Money, nullable=True),
    Column("max_in_flight", Integer, nullable=False),
    Column("rpm", Integer, nullable=True),
    Column("state", String(32), nullable=False),
    # A one-job batch (``reelforge generate``) writes its files straight into OUT/<batch>/
    # instead of OUT/<batch>/<key>/.
    Column("flat", Boolean, nullable=False, default=False, server_default=false()),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("batch_id", String(128), ForeignKey("batches.id"), nullable=False),
    Column("key", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("account", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("size", String(32), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("state", String(32), nullable=False),
    Column("category", String(32), nullable=True),
    Column("error", Text, nullable=True),
    # Opaque: gateways wrap the upstream id (LiteLLM's are ~240 characters of base64).
    Column("remote_id", String(REMOTE_ID_MAX), nullable=True, unique=True),
    Column("attempt", Integer, nullable=False, default=0),
    Column("intent_token", String(64), nullable=True),
    Column("intent_at", Double, nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("submitted_at", Double, nullable=True),
    Column("completed_at", Double, nullable=True),
    Column("expires_at", Double, nullable=True),
    Column("estimated_cost", Money, nullable=True),
    Column("actual_cost", Money, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # When an ambiguous create may be sent again: its request can no longer arrive and the
    # provider's listing has caught up (see reelforge.engine.reconcile).
    Column("resend_after", Double, nullable=True),
    Index(None, "batch_id", "position"),
    Index(None, "state"),
    Index(None, "fingerprint"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(128), ForeignKey("jobs.id"), nullable=False),
    Column("batch_id", String(128), nullable=False),
    Column("at", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(32), nullable=True),
    Column("progress", Integer, nullable=True),
    Column("data", JSON, nullable=True),
    Index(None, "job_id", "id"),
    # AUTOINCREMENT: ids are never reused, so a sink's cursor only ever moves forward.
    sqlite_autoincrement=True,
)

assets = Table(
    "assets",
    metadata,
    Column("job_id", String(128), ForeignKey("jobs.id"), primary_key=True),
    Column("variant", String(32), primary_key=True),
    Column("path", Text, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("downloaded_at", Double, nullable=False),
    # Made by reelforge from the video because the endpoint could not serve this variant.
    Column("derived", Boolean, nullable=False, default=False, server_default=false()),
)

costs = Table(
    "costs",
    metadata,
    Column("job_id", String(128), ForeignKey("jobs.id"), primary_key=True),
    Column("batch_id", String(128), ForeignKey("batches.id"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("estimated", Money, nullable=True),
    Column("reserved", Money, nullable=True),
    Column("reserved_at", Double, nullable=True),
    Column("actual", Money, nullable=True),
    Column("settled_at", Double, nullable=True),
    Index(None, "batch_id"),
)

sink_cursors = Table(
    "sink_cursors",
    metadata,
    # One row per sink (``"notion"``, ``"webhook:ab12cd34"``): how far it has delivered the
    # outbox. Never holds a secret: a sink's name is derived from its destination without one.
    Column("name", String(128), primary_key=True),
    Column("cursor", Integer, nullable=False, default=0),
    Column("delivered", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", Double, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("disabled_reason", Text, nullable=True),
    Column("updated_at", Double, nullable=False),
)

sink_pages = Table(
    "sink_pages",
    metadata,
    # The remote object a sink keeps for a job (a Notion page id), so a replay updates it.
    Column("sink", String(128), primary_key=True),
    Column("job_id", String(128), ForeignKey("jobs.id"), primary_key=True),
    Column("external_id", String(256), nullable=False),
    Column("updated_at", Double, nullable=False),
)

sink_leases = Table(
    "sink_leases",
    metadata,
    # Which runner may deliver a sink now (one process at a time): ``host:pid:nonce``, until
    # ``expires_at`` (Unix seconds). No row: nobody is delivering the sink.
    Column("name", String(128), primary_key=True),
    Column("owner", String(256), nullable=False),
    Column("expires_at", Double, nullable=False),
)


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's filter: compare only our tables (and everything inside them)."""
    if type_ == "table":
        return name in metadata.tables
    return True


executors = Table(
    "executors",
    metadata,
    # A process running workflows: its DBOS executor id, where it runs, and until when its
    # lease holds unless renewed. A process that is gone has its workflows recovered.
    Column("id", String(256), primary_key=True),
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("command", Text, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
)

batch_runners = Table(
    "batch_runners",
    metadata,
    # The executor of the process running a batch. Claimed before that process starts any
    # workflow, so the batch need not exist yet (no foreign key).
    Column("batch_id", String(128), primary_key=True),
    Column("executor_id", String(256), nullable=False),
)

endpoint_capabilities = Table(
    "endpoint_capabilities",
    metadata,
    # What an account's endpoint was seen to offer or refuse (``list``, ``delete``,
    # ``variant:thumbnail``, ``range``, ``poll_hint``): discovered, never assumed.
    Column("account", String(128), primary_key=True),
    Column("capability", String(64), primary_key=True),
    Column("supported", Boolean, nullable=False),
    Column("detail", Text, nullable=True),
    Column("observed_at", Double, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # One row per provider webhook delivery accepted by ``reelforge serve`` (its signature and
    # timestamp verified), keyed by the scheme and the sender's delivery id (``webhook-id``,
    # fal's request id): a redelivery finds its row and changes nothing. ``job_id`` is the job
    # it named, if one was found (no foreign key: an unknown job is acknowledged all the same).
    Column("scheme", String(32), primary_key=True),
    Column("delivery_id", String(256), primary_key=True),
    Column("job_id", String(128), nullable=True),
    Column("received_at", Double, nullable=False),
    # What a verified delivery said about the provider's job ``remote_id`` (state, progress,
    # times, error: see :mod:`reelforge.store.webhooks`), ``null`` when it said nothing a
    # check would; ``applied_at`` is when the job's workflow applied it (``null`` until then).
    Column("remote_id", String(REMOTE_ID_MAX), nullable=True),
    Column("status", JSON, nullable=True),
    Column("applied_at", Double, nullable=True),
    Index(None, "remote_id"),
)
