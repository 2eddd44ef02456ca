"""The cost ledger behind :class:`reelforge.store.Store`: reservations against a batch's budget,
settlement, and reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, func, select, update

from reelforge.core.models import JobState
from reelforge.store._sql import append_event, apply_update, batch_row, job_row
from reelforge.store.rows import BatchRow, BatchSummary, CostLine, EventKind
from reelforge.store.schema import costs, jobs

__all__ = ["BRAND_LABEL", "CostGrouping", "cost_report", "reserve", "settle", "summary"]

BRAND_LABEL = "brand"
"""The job label a cost report groups by when asked for brands."""

CostGrouping = Literal["batch", "provider", "model", "brand"]

_ZERO = Decimal("0.0000")
_NO_GROUP = "(none)"


def _committed(conn: Connection, batch_id: str) -> Decimal:
    """Money the batch has spent (settled) or holds (open reservations)."""
    spent = conn.scalar(
        select(func.coalesce(func.sum(costs.c.actual), 0)).where(costs.c.batch_id == batch_id)
    )
    held = conn.scalar(
        select(func.coalesce(func.sum(costs.c.reserved), 0)).where(
            costs.c.batch_id == batch_id,
            costs.c.reserved_at.is_not(None),
            costs.c.settled_at.is_(None),
        )
    )
    return _money(spent) + _money(held)


def _money(value: Any) -> Decimal:
    # ``coalesce(sum(x), 0)`` keeps the Money type, so it arrives as a Decimal; a bare 0 may not.
    return Decimal(value or 0).quantize(_ZERO)


def reserve(
    conn: Connection, job_id: str, amount: Decimal, budget: Decimal | None, *, now: float
) -> bool:
    """Hold ``amount`` against the batch's budget; see :meth:`reelforge.store.Store.reserve`."""
    amount = amount.quantize(_ZERO)
    if amount < 0:
        raise ValueError(f"a reservation cannot be negative: {amount}")
    job = job_row(conn, job_id)
    batch = BatchRow.from_mapping(batch_row(conn, job["batch_id"]))
    cost = conn.execute(select(costs).where(costs.c.job_id == job_id)).mappings().one()
    if cost["reserved_at"] is not None and cost["settled_at"] is None:
        return True
    cap = budget if budget is not None else batch.budget_usd
    if cap is not None and _committed(conn, batch.id) + amount > cap:
        return False
    conn.execute(
        update(costs).where(costs.c.job_id == job_id).values(reserved=amount, reserved_at=now)
    )
    append_event(
        conn,
        job_id=job_id,
        batch_id=batch.id,
        at=now,
        kind=EventKind.COST,
        state=JobState(job["state"]),
        data={"reserved": amount, "budget": cap},
    )
    return True


def settle(conn: Connection, job_id: str, actual: Decimal, *, now: float, released: bool) -> bool:
    """Settle the job's cost; see :meth:`reelforge.store.Store.settle`."""
    actual = actual.quantize(_ZERO)
    if actual < 0:
        raise ValueError(f"a cost cannot be negative: {actual}")
    job = job_row(conn, job_id)
    # The batch row too, as reserve takes it (same order: job, then batch): a reservation deciding
    # on the batch's committed money never reads it while a settlement is changing it.
    batch_row(conn, job["batch_id"])
    cost = conn.execute(select(costs).where(costs.c.job_id == job_id)).mappings().one()
    if cost["settled_at"] is not None:
        return False
    total = (cost["actual"] or _ZERO) + actual
    conn.execute(update(costs).where(costs.c.job_id == job_id).values(actual=total, settled_at=now))
    apply_update(conn, job, {"actual_cost": total}, now=now)
    append_event(
        conn,
        job_id=job_id,
        batch_id=job["batch_id"],
        at=now,
        kind=EventKind.COST,
        state=JobState(job["state"]),
        data={"actual": actual, "total": total, "released": released},
    )
    return True


def summary(conn: Connection, batch_id: str) -> BatchSummary:
    """Counts per state and money totals; see :meth:`reelforge.store.Store.batch_summary`."""
    batch = BatchRow.from_mapping(batch_row(conn, batch_id, lock=False))
    counts = dict.fromkeys(JobState, 0)
    for state, count in conn.execute(
        select(jobs.c.state, func.count()).where(jobs.c.batch_id == batch_id).group_by(jobs.c.state)
    ):
        counts[JobState(state)] = count
    estimated, actual = conn.execute(
        select(
            func.coalesce(func.sum(costs.c.estimated), 0),
            func.coalesce(func.sum(costs.c.actual), 0),
        ).where(costs.c.batch_id == batch_id)
    ).one()
    held = conn.scalar(
        select(func.coalesce(func.sum(costs.c.reserved), 0)).where(
            costs.c.batch_id == batch_id,
            costs.c.reserved_at.is_not(None),
            costs.c.settled_at.is_(None),
        )
    )
    return BatchSummary(
        batch_id=batch_id,
        total=sum(counts.values()),
        counts=counts,
        estimated=_money(estimated),
        reserved=_money(held),
        actual=_money(actual),
        budget_usd=batch.budget_usd,
    )


_GROUPERS: Mapping[CostGrouping | None, Callable[[RowMapping], str]] = {
    None: lambda _row: "all",
    "batch": lambda row: str(row["batch_id"]),
    "provider": lambda row: str(row["provider"]),
    "model": lambda row: str(row["model"]),
    "brand": lambda row: str((row["labels"] or {}).get(BRAND_LABEL) or _NO_GROUP),
}


def cost_report(conn: Connection, batch_id: str | None, by: CostGrouping | None) -> list[CostLine]:
    """Jobs, estimated and actual money per group; see :meth:`reelforge.store.Store.cost_report`."""
    if by not in _GROUPERS:
        raise ValueError(f"cannot group costs by {by!r}; use batch, provider, model or brand")
    group_of = _GROUPERS[by]
    query = select(
        costs.c.batch_id,
        costs.c.provider,
        costs.c.model,
        costs.c.labels,
        costs.c.estimated,
        costs.c.actual,
    )
    if batch_id is not None:
        query = query.where(costs.c.batch_id == batch_id)
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, _ZERO, _ZERO])
    for row in conn.execute(query).mappings():
        line = totals[group_of(row)]
        line[0] += 1
        line[1] += row["estimated"] or _ZERO
        line[2] += row["actual"] or _ZERO
    return [
        CostLine(group=group, jobs=count, estimated=estimated, actual=actual)
        for group, (count, estimated, actual) in sorted(totals.items())
    ]
