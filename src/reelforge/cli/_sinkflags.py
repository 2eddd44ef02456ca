"""The sink flags of ``run`` and ``campaign run``: resolve them, report the sinks' state."""

from __future__ import annotations

from pathlib import Path

from reelforge.cli._common import err_console
from reelforge.sinks.config import SinkPlan, load_config, resolve_sinks
from reelforge.sinks.follow import SinkFollower

__all__ = ["report_sinks", "sink_plan"]


def sink_plan(
    config: Path | None,
    *,
    notion: bool | None,
    webhooks: list[str] | None,
    events_jsonl: Path | None,
) -> SinkPlan:
    """The sinks the settings file and the flags ask for (ConfigError: exit 2)."""
    return resolve_sinks(
        load_config(config),
        source=str(config or "reelforge.toml"),
        notion=notion,
        webhooks=webhooks or (),
        jsonl=events_jsonl,
    )


def report_sinks(follower: SinkFollower) -> None:
    """One line per sink still behind, on stderr, with what to run next."""
    for status in follower.statuses:
        if status.disabled:
            err_console.print(
                f"sink {status.name} is disabled: {status.disabled_reason or 'asked to stop'}",
                markup=False,
                style="yellow",
            )
        elif status.lag_events:
            err_console.print(
                f"sink {status.name} is {status.lag_events} events behind "
                f"(last error: {status.last_error or 'none'}); nothing is lost: the next run "
                "or `reelforge sinks sync` delivers them.",
                markup=False,
                style="yellow",
            )
