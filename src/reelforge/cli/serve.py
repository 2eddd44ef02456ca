"""``reelforge serve``: the dashboard, the providers' webhooks, the JSON API and metrics, beside
the durable engine."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated

import typer
from pydantic import SecretStr

from reelforge.app.forge import Forge
from reelforge.cli._common import err_console, reelforge_errors
from reelforge.cli._options import (
    BaseUrlOption,
    ConfigOption,
    DbOption,
    EventsJsonlOption,
    MaxInFlightOption,
    NotionOption,
    WebhookOption,
)
from reelforge.cli._sinkflags import report_sinks, sink_plan
from reelforge.core.config import display_url
from reelforge.core.paths import check_database

__all__ = ["PUBLIC_URL_ENV", "TOKEN_ENV", "serve"]

TOKEN_ENV = "REELFORGE_SERVE_TOKEN"  # noqa: S105 - the variable's name, not a secret
PUBLIC_URL_ENV = "REELFORGE_PUBLIC_URL"


def _token() -> SecretStr | None:
    value = os.environ.get(TOKEN_ENV, "").strip()
    return SecretStr(value) if value else None


def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. Anything but loopback needs REELFORGE_SERVE_TOKEN."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8787,
    db: DbOption = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Where providers reach this server (https://...); adapters that support it "
            "then attach their webhook URL to each job [env: REELFORGE_PUBLIC_URL].",
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    max_in_flight: MaxInFlightOption = 4,
    config: ConfigOption = None,
    notion: NotionOption = None,
    webhook: WebhookOption = None,
    events_jsonl: EventsJsonlOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Once listening, print where as one JSON line on stdout (url, port)."
        ),
    ] = False,
) -> None:
    """Serve the dashboard, the providers' webhooks, the JSON API (/api/) and metrics
    (/metrics), and run the durable engine: unfinished batches no other process runs are
    resumed, and `reelforge run` elsewhere on the same database keeps working. Sinks
    (--notion, --webhook, --events-jsonl, or reelforge.toml) follow every job event while it
    runs, review verdicts included.

    With REELFORGE_SERVE_TOKEN set, every page and API call needs it (Authorization: Bearer,
    or visit /?token=... once). Stop with Ctrl+C or SIGTERM. With --json, one line saying where
    it listens is printed once it does. Resumed batches write their videos where they were
    started to. Exit codes: 0 stopped, 1 its lease was lost (another process took its jobs
    over), 2 bad input (a non-loopback --host without a token, a port in use, an unusable
    --public-url).
    """
    from reelforge.serve.runner import (  # noqa: PLC0415  # heavy import
        Served,
        check_binding,
        check_public_url,
    )
    from reelforge.serve.runner import serve as run_server  # noqa: PLC0415

    with reelforge_errors():
        token = _token()
        check_binding(host, token)
        sinks = sink_plan(config, notion=notion, webhooks=webhook, events_jsonl=events_jsonl)
        url = public_url or os.environ.get(PUBLIC_URL_ENV) or None
        if url is not None:
            url = check_public_url(url)
            # The providers' settings read it: adapters that can attach a webhook URL do.
            os.environ[PUBLIC_URL_ENV] = url
        forge = Forge(base_url=base_url, db=db, max_in_flight=max_in_flight)
        check_database(forge.db_url)

        def ready(served: Served) -> None:
            notice = forge.simulator_notice()
            if notice is not None:
                err_console.print(
                    f"{notice} Batches run elsewhere are resumed here only with the "
                    "--base-url and key they ran with.",
                    highlight=False,
                )
            err_console.print(
                f"serving {served.url} (dashboard /, API /api/, metrics /metrics); database "
                f"{display_url(served.db_url)}"
                + ("; token required" if token is not None else "")
                + (f"; sinks: {sinks.describe()}" if sinks else "")
                + ". Ctrl+C stops.",
                highlight=False,
            )
            if as_json:
                line = {
                    "url": served.url,
                    "host": served.host,
                    "port": served.port,
                    "public_url": url,
                }
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()

        follower = asyncio.run(
            run_server(
                forge,
                host=host,
                port=port,
                public_url=url,
                token=token,
                on_ready=ready,
                sinks=sinks,
            )
        )
    report_sinks(follower)
    err_console.print("stopped")
