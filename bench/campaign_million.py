"""A campaign of N combinations (default 1,000,000) planned, reviewed, recorded and enqueued.

Writes a campaign file whose dimensions multiply to ``--combinations`` (100 values per dimension,
the last one holding the rest), then runs the library path of ``reelforge campaign run`` for a
large campaign in this process and prints the time and the RSS after each phase:

1. ``Campaign.load``;
2. ``submit_campaign``: a slice of 5,000 combinations at a time planned (prompt rendered, spec
   checked), reviewed (compliance, price; a row of ``compliance.csv`` each) and recorded
   (``Store.add_jobs``, a transaction per slice), then a durable workflow enqueued per
   accepted job (DBOS's queue, partitioned by account), the jobs read back a page at a time;
3. optionally (``--drain K``) the engine keeps running until K jobs are done against a
   standalone simulator at a very high time scale: a sample drained from the enqueued batch.

``--whole`` runs the path that holds everything instead (``plan()``, ``review_campaign``,
``Engine.submit`` of the whole batch), phase by phase; with ``--skip-review`` it leaves the
review out, to time the engine's part alone.

The figures are printed as a Markdown table with the command that reproduces them. The
database is a fresh one on the PostgreSQL server ``--db`` names (created and dropped), or a
SQLite file with ``--db sqlite``.

    python bench/campaign_million.py --db postgresql://reelforge@127.0.0.1:55436/ \
        [--combinations 1000000] [--drain 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import SecretStr
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_pg import fresh_database, masked
from _compare_sim import SimProcess

from reelforge.app.campaignrun import review_campaign, submit_campaign
from reelforge.batch import Batch
from reelforge.campaign import Campaign
from reelforge.core.models import JobState
from reelforge.engine import Engine
from reelforge.providers.registry import Endpoint, Providers

_PER_DIMENSION = 100
_DEFAULT = 1_000_000


@dataclass(slots=True)
class Phase:
    """One measured step: real seconds, CPU seconds of this process, RSS after it, peak so far."""

    name: str
    seconds: float
    cpu: float
    rss_mib: float
    peak_mib: float
    note: str = ""


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Phases:
    """Collects :class:`Phase` rows, printing each as it ends."""

    def __init__(self) -> None:
        self.rows: list[Phase] = []

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[Phase]:
        started, cpu = time.perf_counter(), _cpu()
        phase = Phase(name=name, seconds=0.0, cpu=0.0, rss_mib=0.0, peak_mib=0.0)
        yield phase
        phase.seconds = time.perf_counter() - started
        phase.cpu = _cpu() - cpu
        phase.rss_mib, phase.peak_mib = _rss_mib(), _peak_mib()
        self.rows.append(phase)
        print(
            f"  {name}: {phase.seconds:.1f} s, {phase.cpu:.1f} CPU s, RSS {phase.rss_mib:.0f} MiB "
            f"(peak {phase.peak_mib:.0f}) {phase.note}",
            file=sys.stderr,
            flush=True,
        )


def dimension_sizes(count: int) -> list[int]:
    """Dimension sizes of at most 100 values whose product is ``count``."""
    sizes = []
    rest = count
    while rest > _PER_DIMENSION:
        if rest % _PER_DIMENSION:
            raise ValueError(f"{count} is not (a multiple of 100 ...) times at most 100")
        sizes.append(_PER_DIMENSION)
        rest //= _PER_DIMENSION
    sizes.append(rest)
    return sizes


def write_campaign(path: Path, count: int) -> Path:
    """A campaign file of ``count`` combinations (no exclusions, no sample)."""
    sizes = dimension_sizes(count)
    names = [f"d{i + 1}" for i in range(len(sizes))]
    dimensions = {
        name: [f"{name}v{value:03d}" for value in range(size)]
        for name, size in zip(names, sizes, strict=True)
    }
    document = {
        "campaign": f"million-{count}",
        "brand": "Acme",
        "product_category": "sparkling water",
        "big_idea": "Refreshment that keeps up with you",
        "defaults": {"provider": "openai", "model": "sora-2", "seconds": 4, "size": "1280x720"},
        "dimensions": dimensions,
        "seed": 7,
        "template": "A {{ brand }} "
        + " ".join("{{ " + name + " }}" for name in names)
        + " ad: a can opened on a bright spring morning.",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _workflow_count(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            schema = "dbos." if engine.dialect.name == "postgresql" else ""
            query = text(f"SELECT count(*) FROM {schema}workflow_status")  # noqa: S608
            return int(conn.execute(query).scalar() or 0)
    finally:
        engine.dispose()


def _plan(args: argparse.Namespace, root: Path, phases: Phases) -> tuple[Batch, dict[str, str]]:
    """Write, load, plan and (unless skipped) review the campaign; its batch and rejections."""
    with phases.measure("write the campaign file"):
        source = write_campaign(root / "campaign.yaml", args.combinations)
    with phases.measure("load and plan") as phase:
        campaign = Campaign.load(source)
        plan = campaign.plan()
        phase.note = f"{len(plan):,} combinations"
    if args.skip_review:
        with phases.measure("build the batch (review skipped)"):
            batch = plan.to_batch()
            rejected: dict[str, str] = {}
    else:
        with phases.measure("review (compliance, prices)") as phase:
            review = review_campaign(campaign, plan=plan)
            phase.note = f"{len(review.accepted):,} accepted"
        with phases.measure("build the batch"):
            batch = review.to_batch()
            rejected = review.rejections()
        del review
    del plan
    return batch, rejected


async def _run(args: argparse.Namespace, db_url: str, root: Path, phases: Phases) -> dict[str, int]:
    if args.whole:
        batch, rejected = _plan(args, root, phases)
    else:
        with phases.measure("write the campaign file"):
            source = write_campaign(root / "campaign.yaml", args.combinations)
        with phases.measure("load"):
            campaign = Campaign.load(source)
    config = {
        "time_scale": args.time_scale,
        "seed": 7,
        "faults": {"max_in_flight": args.cap},
    }
    with SimProcess(config, root) as sim:
        providers = Providers(
            {
                "openai": Endpoint(
                    provider="openai",
                    base_url=sim.base_url,
                    credential=SecretStr("sk-bench"),
                    simulated=True,
                )
            }
        )
        with phases.measure("open the engine"):
            engine = Engine(db_url=db_url, providers=providers, max_in_flight=args.cap)
            await engine.__aenter__()
        try:
            store = engine.store
            recorded = _Timed(store.add_jobs)
            store.add_jobs = recorded
            enqueue = _TimedAsync(engine._enqueue_unfinished)
            engine._enqueue_unfinished = enqueue  # type: ignore[method-assign]
            if args.whole:
                with phases.measure("submit (record + enqueue)") as phase:
                    await engine.submit(batch, out=root / "out", rejected=rejected)
                    phase.note = (
                        f"of which recording the jobs {recorded.seconds:.1f} s, "
                        f"enqueueing {enqueue.seconds:.1f} s"
                    )
                del batch
            else:
                with phases.measure("plan, review, record in slices + enqueue") as phase:
                    _, totals = await submit_campaign(engine, campaign, out=root / "out")
                    phase.note = (
                        f"{totals.combinations:,} combinations, {totals.accepted:,} accepted; "
                        f"of which recording the jobs {recorded.seconds:.1f} s, "
                        f"enqueueing {enqueue.seconds:.1f} s"
                    )
            with phases.measure("count") as phase:
                workflows = await asyncio.to_thread(_workflow_count, db_url)
                summary = await asyncio.to_thread(
                    store.batch_summary, f"million-{args.combinations}"
                )
                phase.note = f"{summary.total:,} jobs, {workflows:,} workflows"
            done = 0
            if args.drain:
                with phases.measure(f"drain {args.drain} jobs") as phase:
                    deadline = time.monotonic() + args.drain_timeout
                    while time.monotonic() < deadline:
                        summary = await asyncio.to_thread(
                            store.batch_summary, f"million-{args.combinations}"
                        )
                        done = summary.counts[JobState.DONE]
                        if done >= args.drain:
                            break
                        await asyncio.sleep(0.5)
                    phase.note = f"{done} done"
        finally:
            with phases.measure("close the engine"):
                await engine.__aexit__(None, None, None)
    return {"jobs": summary.total, "workflows": workflows, "done": done}


class _Timed:
    """Wraps a callable and adds up the real seconds spent in it."""

    def __init__(self, func: object) -> None:
        self._func = func
        self.seconds = 0.0

    def __call__(self, *args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return self._func(*args, **kwargs)  # type: ignore[operator]
        finally:
            self.seconds += time.perf_counter() - started


class _TimedAsync:
    """Wraps a coroutine function and adds up the real seconds spent in it."""

    def __init__(self, func: object) -> None:
        self._func = func
        self.seconds = 0.0

    async def __call__(self, *args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return await self._func(*args, **kwargs)  # type: ignore[operator]
        finally:
            self.seconds += time.perf_counter() - started


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combinations", type=int, default=_DEFAULT)
    parser.add_argument(
        "--db",
        required=True,
        help="a PostgreSQL server URL (a fresh database is made on it), or 'sqlite'",
    )
    parser.add_argument("--cap", type=int, default=4, help="in-flight cap of the account")
    parser.add_argument("--time-scale", type=float, default=2000.0, help="of the simulator")
    parser.add_argument("--drain", type=int, default=0, help="jobs to see done before stopping")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument(
        "--skip-review",
        action="store_true",
        help="with --whole: record the plan's batch without the compliance review",
    )
    parser.add_argument(
        "--whole",
        action="store_true",
        help="hold the whole plan, review and batch in memory (the path before slices)",
    )
    args = parser.parse_args(argv)
    if args.skip_review and not args.whole:
        parser.error("--skip-review goes with --whole (the sliced path always reviews)")
    try:
        dimension_sizes(args.combinations)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _reproduce(args: argparse.Namespace) -> str:
    parts = ["python bench/campaign_million.py"]
    db = args.db if args.db == "sqlite" else masked(args.db)
    parts.append(f"--db {db}")
    if args.combinations != _DEFAULT:
        parts.append(f"--combinations {args.combinations}")
    if args.drain:
        parts.append(f"--drain {args.drain}")
    if args.whole:
        parts.append("--whole")
    if args.skip_review:
        parts.append("--skip-review")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("dbos").setLevel(logging.ERROR)  # tasks cancelled as the engine stops
    phases = Phases()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reelforge-million-") as tmp:
        root = Path(tmp)
        with contextlib.ExitStack() as stack:
            if args.db == "sqlite":
                db_url = f"sqlite:///{root / 'db.sqlite'}"
                backend = "SQLite"
            else:
                db_url = stack.enter_context(fresh_database(args.db))
                backend = "PostgreSQL"
            counts = asyncio.run(_run(args, db_url, root, phases))
    wall = time.perf_counter() - started
    print(
        f"A campaign of {args.combinations:,} combinations on {backend}: "
        f"{counts['jobs']:,} jobs recorded, {counts['workflows']:,} workflows enqueued"
        + (f", {counts['done']} drained" if args.drain else "")
        + f"; {wall:.0f} s in all, peak RSS {_peak_mib():.0f} MiB."
    )
    print()
    print("| phase | wall (s) | CPU (s) | RSS after (MiB) | peak RSS so far (MiB) | note |")
    print("|---|---|---|---|---|---|")
    for row in phases.rows:
        print(
            f"| {row.name} | {row.seconds:.1f} | {row.cpu:.1f} | {row.rss_mib:.0f} | "
            f"{row.peak_mib:.0f} | {row.note} |"
        )
    print()
    print(f"reproduce: {_reproduce(args)}")


if __name__ == "__main__":
    main()
