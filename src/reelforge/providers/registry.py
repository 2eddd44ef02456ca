"""The provider registry: which video APIs reelforge can reach, and how each is configured.

A job names its provider (``provider: openai``); the registry says whether that name exists,
and a :class:`Providers` factory — built once per run from the environment and the command
line, and injected into both :class:`~reelforge.engine.Engine` and
:class:`~reelforge.Forge` — knows each provider's :class:`Endpoint` (base URL and credential)
and builds its adapter. The engine never names a provider: it looks adapters up by *account*,
the in-flight partition ``(provider, base URL, credential fingerprint)``.

A provider is added by registering a :class:`ProviderEntry` (its own module owns its settings:
credentials and base URL from the environment)::

    register(MyEntry())

Nothing else changes: a batch whose jobs say ``provider: my-provider`` is routed to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from reelforge.core.capabilities import ModelCapabilities
from reelforge.core.clock import Clock
from reelforge.core.errors import ConfigError, InvalidSpecError
from reelforge.providers.base import Provider
from reelforge.store.ids import account_id

__all__ = [
    "Endpoint",
    "ProviderEntry",
    "Providers",
    "entry",
    "known_providers",
    "register",
    "unregister",
]


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where one provider's requests go, and with which credential: one account.

    ``credential`` is a :class:`~pydantic.SecretStr` (never shown in a repr or a message);
    ``simulated`` marks the built-in simulator.
    """

    provider: str
    base_url: str
    credential: SecretStr | None = field(default=None, repr=False)
    simulated: bool = False

    @property
    def account(self) -> str:
        """The in-flight partition: ``(provider, base URL, credential fingerprint)``."""
        secret = self.credential.get_secret_value() if self.credential else None
        return account_id(self.provider, self.base_url.rstrip("/"), secret)

    @property
    def secret(self) -> str | None:
        """The credential in clear, for the adapter's headers only."""
        return self.credential.get_secret_value() if self.credential else None


@runtime_checkable
class ProviderEntry(Protocol):
    """One provider in the registry: its name, its settings, its models, its adapter."""

    name: str
    """The name jobs use (``provider: openai``)."""
    credentials_hint: str
    """How to configure it, for error messages (``set OPENAI_API_KEY …``)."""

    def configured(self) -> Endpoint | None:
        """The endpoint from the environment (this provider's own settings), or ``None`` when
        nothing is set for it (the simulator may then serve it)."""
        ...

    def simulated(self, simulator_url: str) -> Endpoint | None:
        """The endpoint of the built-in simulator at ``simulator_url`` for this provider, or
        ``None`` if the simulator does not speak its protocol."""
        ...

    def capabilities(self, model: str) -> ModelCapabilities:
        """What ``model`` accepts on this provider (a permissive entry for unknown models)."""
        ...

    def build(self, endpoint: Endpoint, *, client: httpx.AsyncClient, clock: Clock) -> Provider:
        """The adapter for ``endpoint``, sending over ``client``."""
        ...


_REGISTRY: dict[str, ProviderEntry] = {}


def register(provider: ProviderEntry, *, replace: bool = False) -> None:
    """Add ``provider`` to the registry (``replace`` to swap an entry of the same name)."""
    if provider.name in _REGISTRY and not replace:
        raise ConfigError(f"a provider named {provider.name!r} is already registered")
    _REGISTRY[provider.name] = provider


def unregister(name: str) -> None:
    """Remove a provider (tests register their own and take them away again)."""
    _REGISTRY.pop(name, None)


def known_providers() -> tuple[str, ...]:
    """The registered provider names, sorted."""
    _load_builtin()
    return tuple(sorted(_REGISTRY))


def entry(name: str) -> ProviderEntry:
    """The registry entry for ``name``; :class:`InvalidSpecError` (exit 2) naming the known
    providers otherwise."""
    _load_builtin()
    found = _REGISTRY.get(name)
    if found is None:
        known = known_providers()
        raise InvalidSpecError(
            f"provider {name!r} is not known; known providers: {', '.join(known)}",
            field="provider",
            value=name,
            allowed=known,
        )
    return found


def _load_builtin() -> None:
    if "openai" not in _REGISTRY:
        # Imported here: each entry module imports this one.
        from reelforge.providers.fal_entry import FAL  # noqa: PLC0415
        from reelforge.providers.openai_entry import OPENAI  # noqa: PLC0415
        from reelforge.providers.replicate_entry import REPLICATE  # noqa: PLC0415
        from reelforge.providers.runway_entry import RUNWAY  # noqa: PLC0415
        from reelforge.providers.vertex_entry import VERTEX  # noqa: PLC0415

        for builtin in (OPENAI, FAL, REPLICATE, RUNWAY, VERTEX):
            _REGISTRY.setdefault(builtin.name, builtin)


class Providers:
    """The endpoints of one run, one per provider it may use, and the adapters built on them.

    Built from explicit endpoints (the command line's ``--base-url``, a test's), then each
    registered provider's own settings, then — when ``simulator_url`` is given — the built-in
    simulator for any provider left unconfigured that it speaks. A provider with none of these
    is known but unusable: jobs naming it stop with a :class:`ConfigError` saying how to set it
    up, before anything is sent.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint] | None = None,
        *,
        simulator_url: str | None = None,
        from_environment: bool = True,
    ) -> None:
        chosen: dict[str, Endpoint] = dict(endpoints or {})
        for name in known_providers():
            if name in chosen:
                continue
            provider = entry(name)
            found = provider.configured() if from_environment else None
            if found is None and simulator_url is not None:
                found = provider.simulated(simulator_url)
            if found is not None:
                chosen[name] = found
        for name in chosen:
            entry(name)  # an explicit endpoint for an unknown provider is a mistake
        self._endpoints = chosen

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """The configured endpoints, by provider name."""
        return dict(self._endpoints)

    def endpoint(self, provider: str) -> Endpoint:
        """The endpoint for ``provider``: :class:`InvalidSpecError` if no such provider,
        :class:`ConfigError` if it is known but not configured."""
        found = self._endpoints.get(provider)
        if found is None:
            hint = entry(provider).credentials_hint
            raise ConfigError(f"provider {provider!r} is not configured: {hint}")
        return found

    def account(self, provider: str) -> str:
        """The account (in-flight partition) jobs of ``provider`` run under."""
        return self.endpoint(provider).account

    def accounts(self) -> dict[str, Endpoint]:
        """Every configured endpoint, by account."""
        return {endpoint.account: endpoint for endpoint in self._endpoints.values()}

    def check(self, providers: Iterable[str]) -> None:
        """Raise before anything is sent if any of ``providers`` is unknown or unconfigured."""
        for name in sorted(set(providers)):
            self.endpoint(name)

    def capabilities(self, provider: str, model: str) -> ModelCapabilities:
        """What ``model`` accepts on ``provider``."""
        return entry(provider).capabilities(model)

    def build(self, *, client: httpx.AsyncClient, clock: Clock) -> dict[str, Provider]:
        """An adapter per configured endpoint, by account."""
        return {
            endpoint.account: entry(name).build(endpoint, client=client, clock=clock)
            for name, endpoint in self._endpoints.items()
        }

    def describe(self, provider: str = "openai") -> str:
        """Where ``provider``'s requests go, for messages (its base URL)."""
        found = self._endpoints.get(provider)
        return found.base_url if found is not None else f"(provider {provider} not configured)"
