"""The :class:`Forge` facade: one object that owns the HTTP client, the providers and,
for providers with no credentials configured, the embedded simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, overload

import httpx
from pydantic import SecretStr

from reelforge.app.batchrun import BatchResult, check_resumable, run_batch
from reelforge.app.campaignrun import (
    CampaignResult,
    CampaignReview,
    prepare_recorded,
    review_campaign,
    run_campaign,
)
from reelforge.app.generate import (
    GenerateEvent,
    GenerateResult,
    check_recorded,
    chosen_database,
    generate_database,
    one_job_batch,
    run_one,
)
from reelforge.batch import Batch
from reelforge.campaign import Campaign
from reelforge.core.capabilities import validate_spec
from reelforge.core.clock import Clock, SystemClock
from reelforge.core.config import DEFAULT_BASE_URL, Settings
from reelforge.core.errors import ConfigError, InvalidSpecError
from reelforge.core.models import JobSpec
from reelforge.core.naming import slugify
from reelforge.core.paths import check_database, check_output_dir, database_location
from reelforge.core.polling import PollPolicy
from reelforge.core.pricing import PriceTable
from reelforge.engine import Engine, ReconcilePolicy
from reelforge.providers.base import Provider
from reelforge.providers.openai_entry import SIMULATOR_KEY, OpenAISettings
from reelforge.providers.registry import Endpoint, Providers, entry, known_providers
from reelforge.sinks.config import SinkPlan, build_sinks
from reelforge.sinks.follow import DEFAULT_FINAL_WAIT, SinkFollower, follow_sinks
from reelforge.store import BatchSummary, Store
from reelforge.store.engine import opening

if TYPE_CHECKING:  # the simulator (and its media stack) is imported only when it is used
    import openai

    from reelforge.sim import EmbeddedSimulator, SimConfig, Simulator

__all__ = ["Forge"]


def _unconfigured(explicit: Mapping[str, Endpoint]) -> list[str]:
    """Registered providers other than ``openai`` with no endpoint given and no credentials
    in the environment: the simulator serves them."""
    return [
        name
        for name in known_providers()
        if name != "openai" and name not in explicit and entry(name).configured() is None
    ]


class Forge:
    """Run video jobs against a provider, or against the built-in simulator.

    ``simulator=None`` (the default) uses the simulator exactly when no API key is configured
    and no base URL was given. Use it as an async context manager::

        async with Forge() as forge:
            result = await forge.generate(JobSpec(prompt="A red kite over dunes"))
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        simulator: bool | None = None,
        sim_config: SimConfig | None = None,
        out: Path = Path("reelforge-out"),
        clock: Clock | None = None,
        poll: PollPolicy | None = None,
        prices: PriceTable | None = None,
        timeout: httpx.Timeout | None = None,
        db: str | Path | None = None,
        max_in_flight: int = 4,
        rpm: int | None = None,
        reconcile: ReconcilePolicy | None = None,
        endpoints: Mapping[str, Endpoint] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        openai_settings = OpenAISettings()
        key = api_key or (
            openai_settings.api_key.get_secret_value() if openai_settings.api_key else None
        )
        url = base_url or openai_settings.base_url
        openai_simulated = simulator if simulator is not None else (key is None and url is None)
        if not openai_simulated and key is None:
            raise ConfigError(
                "no API key: set OPENAI_API_KEY (the key for the provider at "
                f"{url or DEFAULT_BASE_URL}), or leave both unset to use the built-in simulator"
            )
        self._explicit: dict[str, Endpoint] = dict(endpoints or {})
        self._forced = simulator is True
        self._simulated: frozenset[str] = frozenset()
        """The providers the simulator served when last asked (kept after it stops)."""
        self.using_simulator = (
            simulator
            if simulator is not None
            else openai_simulated or bool(_unconfigured(self._explicit))
        )
        """Whether the embedded simulator runs: asked for, or some provider has no
        credentials (it then serves those providers; see :meth:`simulated_providers`)."""
        if not openai_simulated and "openai" not in self._explicit:
            self._explicit["openai"] = Endpoint(
                provider="openai",
                base_url=(url or DEFAULT_BASE_URL).rstrip("/"),
                credential=SecretStr(key) if key is not None else None,
            )
        self._sim_config = sim_config
        self.out = out
        self.clock = clock or SystemClock()
        self.poll = poll or PollPolicy()
        self.prices = prices
        self.db_url = database_location(db, self.settings)
        self.max_in_flight = max_in_flight
        self.rpm = rpm
        self.reconcile = reconcile
        self._timeout = timeout or httpx.Timeout(60.0, connect=10.0)
        self._embedded: EmbeddedSimulator | None = None
        self._client: httpx.AsyncClient | None = None
        self._adapters: dict[str, Provider] | None = None

    @property
    def base_url(self) -> str:
        """Where ``openai`` requests go (the embedded simulator's loopback URL when it is
        used)."""
        return self.providers().describe("openai")

    def account(self, provider: str = "openai") -> str:
        """The account (in-flight partition) ``provider``'s jobs run under."""
        return self.providers().account(provider)

    def providers(self) -> Providers:
        """The endpoint of every provider this forge can reach: the ones given explicitly,
        then each provider's own settings, then (when it is used) the embedded simulator for
        the rest. With the simulator on, it must be started (``async with``) first."""
        if not self.using_simulator:
            return Providers(self._explicit)
        if self._embedded is None:
            raise RuntimeError("use Forge inside 'async with' (the simulator is not started)")
        url = self._embedded.base_url
        explicit = dict(self._explicit)
        forced = (name for name in known_providers() if self._forced and name not in explicit)
        for name in ("openai", *forced) if "openai" not in explicit else forced:
            simulated = entry(name).simulated(url)
            if simulated is not None:
                explicit[name] = simulated  # the simulator was asked for, whatever is set
        return Providers(explicit, simulator_url=url)

    def simulated_providers(self, used: Iterable[str] | None = None) -> list[str]:
        """The providers (of ``used``, or all) the built-in simulator serves (or served, once
        this forge is closed), sorted."""
        if not self.using_simulator:
            return []
        if self._embedded is not None:
            endpoints = self.providers().endpoints
            self._simulated = frozenset(n for n, e in endpoints.items() if e.simulated)
        names = sorted(set(used)) if used is not None else sorted(self._simulated)
        return [name for name in names if name in self._simulated]

    def simulator_notice(self, used: Iterable[str] | None = None) -> str | None:
        """A line saying which of ``used`` the simulator serves (``None``: none of them)."""
        names = self.simulated_providers(used)
        if not names:
            return None
        return (
            f"Using the built-in simulator at {self._embedded_url()} for {', '.join(names)} "
            "(no credentials set for them; nothing is billed)."
        )

    def _embedded_url(self) -> str:
        return self._embedded.base_url if self._embedded is not None else "(not started)"

    @property
    def simulator(self) -> Simulator | None:
        """The embedded simulator, when it is used (tests read its ground-truth log)."""
        return self._embedded.sim if self._embedded else None

    @property
    def provider(self) -> Provider:
        """The ``openai`` provider's adapter (only inside ``async with``)."""
        return self.adapter("openai")

    def adapter(self, provider: str) -> Provider:
        """The adapter of ``provider`` (only inside ``async with``)."""
        if self._adapters is None:
            raise RuntimeError("use Forge inside 'async with'")
        account = self.providers().account(provider)
        return self._adapters[account]

    async def __aenter__(self) -> Self:
        if self.using_simulator:
            from reelforge.sim import EmbeddedSimulator, SimConfig  # noqa: PLC0415  # see above

            embedded = EmbeddedSimulator(self._sim_config or SimConfig())
            await asyncio.to_thread(embedded.__enter__)
            self._embedded = embedded
        self._client = httpx.AsyncClient(timeout=self._timeout)
        self._adapters = self.providers().build(client=self._client, clock=self.clock)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._adapters = None
        if self._embedded is not None:
            embedded, self._embedded = self._embedded, None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(embedded.__exit__, None, None, None)

    def openai_client(self) -> openai.AsyncOpenAI:
        """An ``openai`` SDK client for this forge's endpoint (the prompt writer and the
        moderation check use it); close it with ``await client.close()`` or ``async with``."""
        import openai  # noqa: PLC0415  # on first use: a large import

        endpoint = self.providers().endpoint("openai")
        return openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.secret or SIMULATOR_KEY,
            timeout=self._timeout.read or 60.0,
            max_retries=2,
        )

    def engine(self) -> Engine:
        """A durable engine for this forge's endpoint and database (use with ``async with``)."""
        return Engine(
            db_url=self.db_url,
            providers=self.providers(),
            max_in_flight=self.max_in_flight,
            rpm=self.rpm,
            poll=self.poll,
            reconcile=self.reconcile,
            prices=self.prices,
            clock=self.clock,
        )

    @overload
    async def run(
        self,
        work: Batch,
        *,
        out: Path | None = None,
        budget: Decimal | None = None,
        on_update: Callable[[BatchSummary], None] | None = None,
        sinks: SinkPlan | None = None,
    ) -> BatchResult: ...

    @overload
    async def run(
        self,
        work: Campaign | CampaignReview,
        *,
        out: Path | None = None,
        budget: Decimal | None = None,
        on_update: Callable[[BatchSummary], None] | None = None,
        sinks: SinkPlan | None = None,
    ) -> CampaignResult: ...

    async def run(
        self,
        work: Batch | Campaign | CampaignReview,
        *,
        out: Path | None = None,
        budget: Decimal | None = None,
        on_update: Callable[[BatchSummary], None] | None = None,
        sinks: SinkPlan | None = None,
    ) -> BatchResult | CampaignResult:
        """Run a batch or a campaign to the end on the durable engine; running it again
        continues it.

        A :class:`~reelforge.campaign.Campaign` is reviewed first (compliance, prices,
        ``budget``): rejected combinations are recorded and never sent, the compliance report
        is written to ``out/<campaign>/``, and a campaign over ``budget`` is refused before
        anything is sent. A ready :class:`CampaignReview` runs as reviewed (its own budget).

        ``sinks`` (see :mod:`reelforge.sinks.config`) follow the job events while the run lasts
        and get a last chance to catch up at its end; what they could not deliver stays
        behind their durable cursors for the next run.
        """
        target = out or self.out
        if isinstance(work, Campaign):
            work = review_campaign(work, budget=budget, prices=self.prices)
        elif isinstance(work, CampaignReview) and budget is not None and budget != work.budget:
            raise InvalidSpecError(
                f"budget ${budget:.2f} differs from the review's "
                f"({'none' if work.budget is None else f'${work.budget:.2f}'}): review the "
                "campaign with that budget (review_campaign(..., budget=)), or pass the Campaign",
                field="budget",
                value=str(budget),
            )
        if isinstance(work, CampaignReview):
            review = work
            work.check_budget()
            check_output_dir(target)
            async with self.running(
                prepare=lambda store, engine: prepare_recorded(
                    store, review, providers=engine.providers
                ),
                sinks=sinks,
                batch=review.batch_name,
            ) as (engine, _):
                return await run_campaign(engine, review, out=target, on_update=on_update)
        batch = work
        check_output_dir(target)
        async with self.running(
            prepare=lambda store, engine: check_resumable(
                store, batch.name, providers=engine.providers
            ),
            sinks=sinks,
            batch=batch.name,
        ) as (engine, _):
            return await run_batch(engine, batch, out=target, budget=budget, on_update=on_update)

    async def enqueue(
        self, batch: Batch, *, out: Path | None = None, budget: Decimal | None = None
    ) -> BatchSummary:
        """Record ``batch`` and enqueue its unfinished jobs for workers (``reelforge worker``,
        :func:`reelforge.app.worker.work`), then return its summary without running any job
        here. Enqueuing it again continues it, as :meth:`run` does.

        The jobs run in other processes, so they need an endpoint that outlives this one:
        :class:`ConfigError` when this forge uses the embedded simulator. Their files go to
        ``out`` made absolute (workers may run elsewhere).
        """
        if self.using_simulator:
            raise ConfigError(
                "a batch enqueued for workers needs a provider that outlives this process, and "
                "the built-in simulator stops with it: start `reelforge sim` and pass its "
                "--base-url (with OPENAI_API_KEY), or use real credentials"
            )
        target = check_output_dir(out or self.out).resolve()
        async with self.running(
            prepare=lambda store, engine: check_resumable(
                store, batch.name, providers=engine.providers
            ),
            batch=batch.name,
            listen=False,
        ) as (engine, _):
            batch_id = await engine.submit(batch, out=target, budget=budget)
            return await asyncio.to_thread(engine.store.batch_summary, batch_id)

    @contextlib.asynccontextmanager
    async def running(
        self,
        *,
        prepare: Callable[[Store, Engine], object] | None = None,
        sinks: SinkPlan | None = None,
        sink_wait: float = DEFAULT_FINAL_WAIT,
        batch: str | None = None,
        concurrency: int | None = None,
        listen: bool = True,
    ) -> AsyncIterator[tuple[Engine, SinkFollower]]:
        """The durable engine, started, with the sinks following the outbox.

        Before the engine starts (and so before any workflow an interrupted run left behind is
        recovered), ``prepare(store, engine)`` gets the migrated store to check or settle what
        is recorded, and the sinks check their set-up: a problem there sends nothing. On exit
        the sinks get ``sink_wait`` seconds to catch up (see :class:`SinkFollower`). With
        ``batch``, the engine claims it for this process before any workflow starts: a batch
        another live process is running stops here (exit 2), having run nothing.
        ``concurrency`` is the engine's ``worker_concurrency``; with ``listen`` off the engine
        runs no queued job (it only records and enqueues).
        """
        check_database(self.db_url)
        engine = self.engine()
        engine.batch = batch
        engine.worker_concurrency = concurrency
        engine.listen = listen
        store = Store(self.db_url)
        try:
            with opening(self.db_url):
                await asyncio.to_thread(store.migrate)
            if prepare is not None:
                await asyncio.to_thread(prepare, store, engine)
            built = build_sinks(sinks, store=store) if sinks else []
            async with follow_sinks(store, built, final_wait=sink_wait) as follower, engine:
                yield engine, follower
        finally:
            store.close()

    async def generate(
        self,
        spec: JobSpec,
        *,
        out: Path | None = None,
        job_id: str | None = None,
        on_event: Callable[[GenerateEvent], None] | None = None,
        db: str | Path | None = None,
    ) -> GenerateResult:
        """Create one video and download its assets into ``out / job_id``.

        The video is a one-job batch named ``job_id`` (default: the date, time and the
        prompt's first words) on the durable engine, its files written straight into that
        folder. It is recorded in ``db`` when given; else in this forge's database when one
        was chosen (``Forge(db=...)`` or ``REELFORGE_DB_URL``), where ``reelforge status
        <job_id>`` shows it afterwards and the same ``job_id`` continues it; else in a
        throwaway database that is removed when this returns.

        Raises :class:`~reelforge.InvalidSpecError` or :class:`~reelforge.ConfigError` before
        anything is sent when the spec, its provider, ``job_id``, ``out`` or ``db`` is
        unusable. A job that fails (the provider refused the create, or failed the video) is
        *returned* with its state and reason. ``on_event`` gets each step the engine records.
        """
        spec = validate_spec(spec)
        self.providers().check([spec.provider])
        if job_id is not None:
            one_job_batch(job_id, spec)  # a bad job id is refused before any folder is made
        out_dir = check_output_dir(out or self.out)
        batch = one_job_batch(job_id or _new_job_id(spec, out_dir), spec)
        chosen = db if db is not None else chosen_database(self.db_url, self.settings)
        with generate_database(chosen) as where:
            own, self.db_url = self.db_url, database_location(where, self.settings)
            try:
                # running() reads db_url once, on entry: the forge keeps its own database.
                async with self.running(
                    prepare=lambda store, engine: check_recorded(
                        store, batch, providers=engine.providers
                    ),
                    batch=batch.name,
                ) as (engine, _):
                    self.db_url = own
                    return await run_one(engine, batch, out=out_dir, on_event=on_event)
            finally:
                self.db_url = own


def _new_job_id(spec: JobSpec, out_dir: Path) -> str:
    """``20261125-101500-a-red-kite-over-dunes``, made unique within ``out_dir``: a safe
    batch name (no ``--``, at most 64 characters)."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(spec.prompt, max_length=32)}"
    candidate, n = stem, 1
    while (out_dir / candidate).exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate
