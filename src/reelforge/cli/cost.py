"""``reelforge cost``: the cost ledger, grouped by batch, provider, model or brand, with a
total."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, get_args

import typer
from rich.markup import escape
from rich.table import Table

from reelforge.cli._batches import find_batch, money, open_store
from reelforge.cli._common import out_console, print_json, reelforge_errors
from reelforge.cli._options import DbOption
from reelforge.core.errors import InvalidSpecError
from reelforge.store import CostGrouping, CostLine

__all__ = ["cost", "parse_grouping"]

_GROUPINGS: tuple[CostGrouping, ...] = get_args(CostGrouping)


def cost(
    batch: Annotated[
        str | None,
        typer.Argument(help="Only this batch (default: every batch).", show_default=False),
    ] = None,
    by: Annotated[
        str,
        typer.Option(help="Group by batch, provider, model or brand (the jobs' brand label)."),
    ] = "batch",
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show what jobs were estimated to cost and what they cost, per group, with a total.

    Failed, rejected and canceled jobs cost nothing unless the provider billed them.
    """
    with reelforge_errors():
        grouping = parse_grouping(by)
        with open_store(db) as store:
            batch_id = find_batch(store, batch).id if batch is not None else None
            lines = store.cost_report(batch_id, by=grouping)
    total = CostLine(
        group="total",
        jobs=sum(line.jobs for line in lines),
        estimated=sum((line.estimated for line in lines), Decimal(0)),
        actual=sum((line.actual for line in lines), Decimal(0)),
    )
    if as_json:
        print_json(
            {
                "by": grouping,
                "batch": batch_id,
                "lines": [_line_dict(line) for line in lines],
                "total": _line_dict(total),
            }
        )
        return
    table = Table(title=f"cost by {grouping}" + (f" in batch {batch_id}" if batch_id else ""))
    for column, justify in (
        (grouping, "left"),
        ("jobs", "right"),
        ("estimated", "right"),
        ("actual", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # Rich's Literal
    for line in [*lines, total]:
        table.add_row(
            escape(line.group),
            str(line.jobs),
            f"${line.estimated:.2f}",
            f"${line.actual:.2f}",
            end_section=line is lines[-1] if lines else False,
        )
    out_console.print(table)


def parse_grouping(value: str) -> CostGrouping:
    """``--by``: batch, provider, model or brand; anything else is bad input (exit 2)."""
    for grouping in _GROUPINGS:
        if value.strip().lower() == grouping:
            return grouping
    raise InvalidSpecError(
        f"--by {value!r} is not a grouping; use one of: {', '.join(_GROUPINGS)}",
        field="by",
        value=value,
    )


def _line_dict(line: CostLine) -> dict[str, object]:
    return {
        "group": line.group,
        "jobs": line.jobs,
        "estimated": money(line.estimated),
        "actual": money(line.actual),
    }
