"""``reelforge sim``: serve the simulator on a real port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reelforge.cli._common import err_console, reelforge_errors

__all__ = ["sim"]


def sim(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    time_scale: Annotated[
        float | None,
        typer.Option(help="Simulated seconds per real second (1 = realistic pace)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for durations, media and faults.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON file with simulator settings and faults."),
    ] = None,
) -> None:
    """Serve the OpenAI-Videos-protocol simulator (point --base-url at http://HOST:PORT/v1)."""
    from reelforge.sim import SimConfig, load_sim_config, serve  # noqa: PLC0415  # heavy import

    with reelforge_errors():
        cfg = load_sim_config(config) if config is not None else SimConfig()
        cfg = cfg.with_overrides(time_scale=time_scale, seed=seed)
        err_console.print(
            f"Simulator serving http://{host}:{port}/v1 (time scale {cfg.time_scale}x, "
            f"seed {cfg.seed}); log at http://{host}:{port}/_sim/log"
        )
        serve(cfg, host=host, port=port)
