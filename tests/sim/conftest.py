"""Fixtures for the simulator's tests (helpers live in ``simkit``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from simkit import FakeClock, SimFactory, client_for

from reelforge.sim import SimConfig, Simulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[SimFactory]:
    """Build a simulator on the fake clock; keyword arguments become :class:`SimConfig` fields."""
    made: list[Simulator] = []

    def factory(**config: Any) -> Simulator:
        config.setdefault("time_scale", 1.0)
        sim = Simulator(SimConfig(**config), clock=clock)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        sim.close()


@pytest.fixture
def sim(make_sim: SimFactory) -> Simulator:
    return make_sim()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as c:
        yield c
