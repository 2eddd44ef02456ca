"""Our own tables (batches, jobs, events, assets, costs) beside the durable engine's.

Open with :meth:`Store.for_path` (SQLite) or ``Store(url)``, call :meth:`Store.migrate`, then
use one method per step: every method is one short transaction.
"""

from reelforge.store._executors import ExecutorRow
from reelforge.store._leases import SinkLease, lease_owner
from reelforge.store._ledger import BRAND_LABEL, CostGrouping
from reelforge.store._sql import clamp_progress
from reelforge.store.errors import (
    BatchNotFoundError,
    IllegalTransitionError,
    JobNotFoundError,
    RemoteIdConflictError,
    SchemaTooNewError,
    StoreError,
)
from reelforge.store.ids import account_id, fingerprint, job_id
from reelforge.store.rows import (
    AssetRow,
    BatchRow,
    BatchState,
    BatchSummary,
    CapabilityRow,
    CostLine,
    EventKind,
    EventRow,
    JobRecord,
    JobRow,
    NewJob,
    Review,
    ReviewVerdict,
)
from reelforge.store.store import Store
from reelforge.store.transitions import EDGES, RETRYABLE, TERMINAL, can_retry, can_transition

__all__ = [
    "BRAND_LABEL",
    "EDGES",
    "RETRYABLE",
    "TERMINAL",
    "AssetRow",
    "BatchNotFoundError",
    "BatchRow",
    "BatchState",
    "BatchSummary",
    "CapabilityRow",
    "CostGrouping",
    "CostLine",
    "EventKind",
    "EventRow",
    "ExecutorRow",
    "IllegalTransitionError",
    "JobNotFoundError",
    "JobRecord",
    "JobRow",
    "NewJob",
    "RemoteIdConflictError",
    "Review",
    "ReviewVerdict",
    "SchemaTooNewError",
    "SinkLease",
    "Store",
    "StoreError",
    "account_id",
    "can_retry",
    "can_transition",
    "clamp_progress",
    "fingerprint",
    "job_id",
    "lease_owner",
]
