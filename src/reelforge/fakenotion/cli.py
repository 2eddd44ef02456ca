"""``reelforge fake-notion``: serve the fake Notion API on a real port (the Typer command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from reelforge.core.errors import ConfigError

__all__ = ["fake_notion"]


def _load_database(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the database schema {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise ConfigError(f'{path}: expected {{"title": …, "properties": {{…}}}}')
    return str(data.get("title", "Untitled")), data["properties"]


def fake_notion(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8010,
    rate: Annotated[
        float, typer.Option(help="Average requests per second allowed per token.")
    ] = 3.0,
    burst: Annotated[int, typer.Option(help="Requests a token may make at once.")] = 10,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Answer 429 over the rate.")
    ] = True,
    token: Annotated[
        list[str] | None,
        typer.Option(help="Accepted bearer token (repeatable); default: any token."),
    ] = None,
    database: Annotated[
        Path | None,
        typer.Option(
            help='JSON file {"title": …, "properties": {…}}: a database to create at start.'
        ),
    ] = None,
) -> None:
    """Serve the fake Notion API (point notion-client's base_url at http://HOST:PORT)."""
    # Imported here: reelforge.cli imports this module, and the server is a heavy import.
    from reelforge.cli._common import err_console, reelforge_errors  # noqa: PLC0415
    from reelforge.fakenotion import (  # noqa: PLC0415
        FakeNotionConfig,
        FakeNotionState,
        NotionApiError,
        serve,
    )

    with reelforge_errors():
        try:
            config = FakeNotionConfig(
                rate_limit=rate_limit,
                requests_per_second=rate,
                burst=burst,
                tokens=tuple(token or ()),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid fake Notion settings: {exc}") from exc
        state = FakeNotionState(config)
        if database is not None:
            title, properties = _load_database(database)
            try:
                created = state.create_database(title, properties)
            except NotionApiError as exc:
                raise ConfigError(f"{database}: {exc.message}") from exc
            err_console.print(
                f"Database {created.database_id} (data source {created.data_source_id})"
            )
        err_console.print(
            f"Fake Notion serving http://{host}:{port}/v1; log at http://{host}:{port}/_fake/log"
        )
        serve(host, port, config, state=state)
