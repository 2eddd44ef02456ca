"""``reelforge demo``: the example campaign on the built-in simulator, with live progress."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from reelforge.app.campaignrun import (
    CampaignResult,
    review_campaign,
)
from reelforge.app.demo import demo_campaign
from reelforge.app.forge import Forge
from reelforge.cli._common import ExitCode, err_console, out_console, print_json, reelforge_errors
from reelforge.cli.campaign import campaign_result_dict, run_review
from reelforge.cli.live import summary_table
from reelforge.core.models import JobState
from reelforge.core.paths import check_output_dir

__all__ = ["demo"]


def demo(
    out: Annotated[
        Path, typer.Option(help="Folder for the videos (its own, so no real run is overwritten).")
    ] = Path("reelforge-demo"),
    max_in_flight: Annotated[int, typer.Option(min=1, max=32, help="Videos generated at once.")] = (
        4
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the example campaign on the simulator (free, offline): twenty ad variations of a
    spring launch, checked by compliance, the five that make a health claim rejected.

    It runs on the durable engine like any campaign, with a throwaway database: the simulator
    lives in this process, so there is nothing to resume afterwards. The same file is
    examples/campaign.yaml: try `reelforge campaign plan examples/campaign.yaml`.
    """
    started = time.monotonic()
    with reelforge_errors(), tempfile.TemporaryDirectory(prefix="reelforge-demo-") as tmp:
        check_output_dir(out)
        forge = Forge(
            simulator=True, out=out, db=Path(tmp) / "demo.db", max_in_flight=max_in_flight
        )
        result = asyncio.run(_run(forge, out, live=not as_json))
    elapsed = time.monotonic() - started
    batch = result.batch
    if as_json:
        print_json(campaign_result_dict(result))
    else:
        out_console.print(summary_table(batch.jobs, title="reelforge demo"))
        for item in result.review.rejected:
            out_console.print(f"rejected {item.combination.name}: {item.reason}", markup=False)
        out_console.print(
            f"{batch.count(JobState.DONE)}/{len(result.review.accepted)} accepted videos done "
            f"in {elapsed:.1f} s ({len(result.review.rejected)} rejected by compliance, never "
            f"sent), in {batch.out_dir}/ (each: video.mp4, thumbnail.webp, spritesheet.jpg, "
            f"job.json; compliance.csv and compliance.json beside them); simulated cost "
            f"${batch.summary.actual:.2f}, billed $0.00."
        )
    raise typer.Exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


async def _run(forge: Forge, out: Path, *, live: bool) -> CampaignResult:
    review = review_campaign(demo_campaign(), prices=forge.prices)
    async with forge:
        err_console.print(
            f"Using the built-in simulator at {forge.base_url}: campaign "
            f"{review.campaign.name}, {len(review.combinations)} variations "
            f"({len(review.rejected)} rejected by compliance), {forge.max_in_flight} at a "
            f"time, into {out / review.batch_name}/"
        )
        return await run_review(forge, review, out=out, live=live)
