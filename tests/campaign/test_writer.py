"""The prompt writer against the simulator's ``/v1/responses`` on a loopback port; the
simulator's request log is the ground truth for how many requests a run cost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from reelforge.campaign import PromptCache, PromptWriter
from reelforge.campaign.writer import (
    DEFAULT_PROMPT_CACHE,
    DEFAULT_WRITER_INSTRUCTIONS,
    DEFAULT_WRITER_MODEL,
    cache_key,
)
from reelforge.core.errors import (
    InvalidRequestError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig
from reelforge.sim.llm import describe_shot

KEY = "sk-writer-secret-5678"
PROMPTS = [
    "Acme sparkling water: a cold can on a sunlit kitchen counter",
    "Acme sparkling water: friends share cans on a rooftop at dusk",
    "Acme sparkling water: a runner cracks a can after a morning jog",
]


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig()) as server:
        yield server


@pytest.fixture
async def client(emb: EmbeddedSimulator) -> AsyncIterator[openai.AsyncOpenAI]:
    emb.sim.reset()
    async with openai.AsyncOpenAI(base_url=emb.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def _files(root: Path, pattern: str) -> list[Path]:
    return list(root.glob(pattern))


def _writes(emb: EmbeddedSimulator) -> int:
    return sum(1 for r in emb.sim.log.requests if r.path == "/v1/responses")


async def test_write_returns_the_models_description(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator
) -> None:
    writer = PromptWriter(client)
    text = await writer.write(PROMPTS[0])
    assert text == describe_shot(DEFAULT_WRITER_MODEL, DEFAULT_WRITER_INSTRUCTIONS, PROMPTS[0])
    assert PROMPTS[0] in text
    assert _writes(emb) == 1


async def test_write_many_keeps_order_and_writes_duplicates_once(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator
) -> None:
    writer = PromptWriter(client, model="gpt-5", instructions="Describe one shot.")
    prompts = [*PROMPTS, PROMPTS[0], *(f"{PROMPTS[1]} #{n}" for n in range(6))]
    texts = await writer.write_many(prompts, concurrency=2)
    assert texts == [describe_shot("gpt-5", "Describe one shot.", p) for p in prompts]
    assert _writes(emb) == len(set(prompts))
    assert emb.sim.log.requests[0].status_code == 200


async def test_second_run_on_the_same_cache_costs_no_requests(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator, tmp_path: Path
) -> None:
    first = await PromptWriter(client, cache=PromptCache(tmp_path)).write_many(PROMPTS)
    assert _writes(emb) == 3
    assert len(_files(tmp_path, "*.json")) == 3
    emb.sim.reset()
    second = await PromptWriter(client, cache=PromptCache(tmp_path)).write_many(PROMPTS)
    assert second == first
    assert _writes(emb) == 0
    assert not _files(tmp_path, "*.tmp")


async def test_cache_is_keyed_by_model_instructions_and_input(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator, tmp_path: Path
) -> None:
    cache = PromptCache(tmp_path)
    await PromptWriter(client, cache=cache).write(PROMPTS[0])
    await PromptWriter(client, cache=cache, model="gpt-5").write(PROMPTS[0])
    await PromptWriter(client, cache=cache, instructions="Shorter.").write(PROMPTS[0])
    assert _writes(emb) == 3
    assert len(_files(tmp_path, "*.json")) == 3
    key = cache_key(DEFAULT_WRITER_MODEL, DEFAULT_WRITER_INSTRUCTIONS, PROMPTS[0])
    record = json.loads(cache.path(key).read_text(encoding="utf-8"))
    assert record["input"] == PROMPTS[0]
    assert record["model"] == DEFAULT_WRITER_MODEL


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b"", b"[]", b'{"version": 1, "output": "stale"}', b"\xff\xfe"],
    ids=["truncated", "empty", "not-an-object", "wrong-fields", "not-utf8"],
)
async def test_corrupted_cache_file_is_ignored_and_rewritten(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator, tmp_path: Path, damage: bytes
) -> None:
    cache = PromptCache(tmp_path)
    writer = PromptWriter(client, cache=cache)
    good = await writer.write(PROMPTS[0])
    path = cache.path(cache_key(writer.model, writer.instructions, PROMPTS[0]))
    path.write_bytes(damage)
    assert cache.get(writer.model, writer.instructions, PROMPTS[0]) is None
    assert await writer.write(PROMPTS[0]) == good
    assert _writes(emb) == 2
    assert json.loads(path.read_text(encoding="utf-8"))["output"] == good
    assert await PromptWriter(client, cache=cache).write(PROMPTS[0]) == good
    assert _writes(emb) == 2


def test_default_cache_location() -> None:
    assert PromptCache().root == DEFAULT_PROMPT_CACHE == Path(".reelforge/prompt-cache")


async def test_unknown_model_is_an_invalid_request_without_the_key(
    client: openai.AsyncOpenAI,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await PromptWriter(client, model="sora-2").write(PROMPTS[0])
    error = caught.value
    assert error.status_code == 400
    assert error.code == "model_not_found"
    assert error.message.startswith("prompt writing failed:")
    assert isinstance(error.__cause__, openai.BadRequestError)
    assert KEY not in str(error)


async def test_rate_limits_carry_retry_after() -> None:
    faults = FaultConfig(rate_limit_rate=1.0, retry_after=2.5)
    with EmbeddedSimulator(SimConfig(faults=faults)) as emb:
        async with openai.AsyncOpenAI(base_url=emb.base_url, api_key=KEY, max_retries=0) as sdk:
            with pytest.raises(RateLimitedError) as caught:
                await PromptWriter(sdk).write_many(PROMPTS)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 2.5
    assert KEY not in str(caught.value)


async def test_unreachable_server_is_transient_without_the_key(tmp_path: Path) -> None:
    with EmbeddedSimulator() as emb:
        url = emb.base_url
    async with openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=5) as sdk:
        with pytest.raises(TransientError) as caught:
            await PromptWriter(sdk, cache=PromptCache(tmp_path)).write(PROMPTS[0])
    assert KEY not in str(caught.value)
    assert not _files(tmp_path, "*.json")


def _empty_answer(request: httpx2.Request) -> httpx2.Response:
    """A well-formed response whose only message has no text (a whitespace answer)."""
    body = {
        "id": "resp_empty",
        "object": "response",
        "created_at": 0,
        "status": "completed",
        "model": json.loads(request.content)["model"],
        "output": [
            {
                "id": "msg_empty",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "  \n ", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    return httpx2.Response(200, json=body, headers={"x-request-id": "req_empty"})


async def test_empty_answer_is_an_error_and_is_not_cached(tmp_path: Path) -> None:
    transport = httpx2.MockTransport(_empty_answer)
    async with (
        httpx2.AsyncClient(transport=transport) as http,
        openai.AsyncOpenAI(
            base_url="http://llm.test/v1", api_key=KEY, max_retries=0, http_client=http
        ) as sdk,
    ):
        with pytest.raises(ProtocolError) as caught:
            await PromptWriter(sdk, cache=PromptCache(tmp_path)).write(PROMPTS[0])
    assert "no text" in caught.value.message
    assert caught.value.request_id == "req_empty"
    assert not _files(tmp_path, "*.json")


async def test_concurrency_must_be_positive(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await PromptWriter(client).write_many(PROMPTS, concurrency=0)
