"""Fixtures for the gateway tests (helpers live in ``gateway_harness``).

One loopback-only network namespace and one LiteLLM proxy serve each test module (the proxy
takes about ten seconds to start); each test starts its own simulator, with its own faults,
on the port the proxy forwards to.

Without the proxy these tests skip, saying how to install it; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import (
    Gateway,
    GatewaySim,
    SimFactory,
    find_proxy,
    missing_prerequisites,
    start_proxy,
    start_sim,
)
from netns_kit import Namespace, Service


@pytest.fixture(scope="session")
def litellm_executable() -> Path:
    """The proxy's executable; a skip (a failure under ``CI=true``) when it is missing."""
    problem = missing_prerequisites()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {problem}", pytrace=False)
        pytest.skip(problem)
    executable = find_proxy()
    assert executable is not None
    return executable


@pytest.fixture(scope="module")
def gateway_namespace(litellm_executable: Path) -> Iterator[Namespace]:
    """A network namespace with only ``lo``, for one test module; deleted at its end."""
    with Namespace.created() as namespace:
        yield namespace


@pytest.fixture(scope="module")
def litellm_proxy(
    gateway_namespace: Namespace, litellm_executable: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The LiteLLM proxy on 127.0.0.1:4000 inside the namespace, routed to the simulator's port."""
    with start_proxy(
        gateway_namespace, litellm_executable, tmp_path_factory.mktemp("litellm")
    ) as proxy:
        yield proxy


@pytest.fixture
def gateway(gateway_namespace: Namespace, litellm_proxy: Service) -> Gateway:
    """Runs ``reelforge`` inside the namespace with ``OPENAI_BASE_URL`` at the proxy."""
    return Gateway(namespace=gateway_namespace, proxy=litellm_proxy)


@pytest.fixture
def make_sim(gateway_namespace: Namespace, tmp_path: Path) -> Iterator[SimFactory]:
    """Start the test's simulator (one at a time: they share the proxy's upstream port); every
    one is stopped at the end of the test."""
    with ExitStack() as stack:
        count = 0

        def factory(config: dict[str, Any]) -> GatewaySim:
            nonlocal count
            stack.close()  # the previous one, if any, frees the port
            count += 1
            return stack.enter_context(
                start_sim(gateway_namespace, config, tmp_path / f"sim{count}")
            )

        yield factory
