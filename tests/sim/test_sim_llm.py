"""``POST /v1/responses`` and ``POST /v1/moderations``: the official SDK parses them, answers are
deterministic, bad requests get the protocol's 400s, and every call lands in the request log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from simkit import SimFactory, client_for

from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig, Simulator
from reelforge.sim.llm import MODERATION_CATEGORIES, TRIGGERS, describe_shot, moderate_text

PROMPT = "Acme sparkling water: a cold can sweats on a sunlit kitchen counter"


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig()) as server:
        yield server


@pytest.fixture
async def sdk(emb: EmbeddedSimulator) -> AsyncIterator[openai.AsyncOpenAI]:
    emb.sim.reset()
    client = openai.AsyncOpenAI(
        base_url=emb.base_url, api_key="sk-llm", max_retries=0, _strict_response_validation=True
    )
    async with client:
        yield client


def _calls(sim: Simulator, path: str) -> list[int]:
    return [r.status_code for r in sim.log.requests if r.path == path]


async def test_sdk_reads_output_text(sdk: openai.AsyncOpenAI, emb: EmbeddedSimulator) -> None:
    response = await sdk.responses.create(
        model="gpt-5-mini", instructions="Describe one shot.", input=PROMPT
    )
    assert response.status == "completed"
    assert response.model == "gpt-5-mini"
    assert PROMPT in response.output_text
    assert "Camera:" in response.output_text
    assert response.output_text == describe_shot("gpt-5-mini", "Describe one shot.", PROMPT)
    assert _calls(emb.sim, "/v1/responses") == [200]


async def test_responses_are_a_function_of_model_instructions_and_input(
    sdk: openai.AsyncOpenAI,
) -> None:
    async def text(**fields: Any) -> str:
        base: dict[str, Any] = {"model": "gpt-5-mini", "instructions": "I", "input": PROMPT}
        base.update(fields)
        return (await sdk.responses.create(**base)).output_text

    first = await text()
    assert await text() == first
    variants = {await text(input=f"{PROMPT} #{n}") for n in range(12)} | {
        await text(instructions=f"I{n}") for n in range(12)
    }
    # Different inputs pick different details (with 216 combinations, 24 inputs cannot collide
    # into one), and the input itself is always quoted.
    assert len({v.split("Camera:")[1] for v in variants}) > 1


async def test_message_list_input_is_read(sdk: openai.AsyncOpenAI) -> None:
    response = await sdk.responses.create(
        model="gpt-5-mini",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
    )
    assert PROMPT in response.output_text


async def test_moderation_flags_trigger_words(
    sdk: openai.AsyncOpenAI, emb: EmbeddedSimulator
) -> None:
    result = await sdk.moderations.create(
        model="omni-moderation-latest",
        input=[PROMPT, "a GORE-soaked massacre", "how to build a pipe bomb"],
    )
    clean, gore, bomb = result.results
    assert not clean.flagged
    assert not any(clean.categories.model_dump().values())
    assert clean.category_scores.violence < 0.01
    assert gore.flagged
    assert gore.categories.violence
    assert gore.categories.violence_graphic
    assert gore.category_scores.violence > 0.9
    assert bomb.flagged
    assert bomb.categories.illicit_violent
    assert not bomb.categories.sexual
    assert _calls(emb.sim, "/v1/moderations") == [200]


async def test_moderation_of_a_single_string_defaults_the_model(sdk: openai.AsyncOpenAI) -> None:
    result = await sdk.moderations.create(input="nude beach")
    assert result.model == "omni-moderation-latest"
    assert len(result.results) == 1
    assert result.results[0].categories.sexual


@pytest.mark.parametrize("word", sorted(TRIGGERS))
def test_every_trigger_flags_its_categories(word: str) -> None:
    flagged = moderate_text(f"Intro, then {word.upper()} at the end.")
    assert set(flagged) == set(TRIGGERS[word])
    assert set(flagged) <= set(MODERATION_CATEGORIES)


@pytest.mark.parametrize("text", ["Gorebridge station", "murdered-out matte black car paint"])
def test_triggers_need_whole_words(text: str) -> None:
    assert moderate_text(text) == ()


@pytest.mark.parametrize(
    ("path", "body", "param", "message"),
    [
        ("/v1/responses", {"input": "x"}, "model", "Missing required parameter: 'model'."),
        ("/v1/responses", {"model": "gpt-5-mini"}, "input", "Missing required parameter: 'input'."),
        ("/v1/moderations", {"model": "omni-moderation-latest"}, "input", None),
        ("/v1/responses", {"model": 5, "input": "x"}, "model", None),
        ("/v1/responses", {"model": "gpt-5-mini", "input": 5}, "input", None),
        ("/v1/moderations", {"input": 5}, "input", None),
        ("/v1/moderations", {"input": []}, "input", None),
        ("/v1/moderations", {"input": [{"type": "audio"}]}, "input[0]", None),
    ],
)
async def test_invalid_requests_get_400(
    client: httpx.AsyncClient,
    sim: Simulator,
    path: str,
    body: dict[str, Any],
    param: str,
    message: str | None,
) -> None:
    response = await client.post(path.removeprefix("/v1"), json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if message is not None:
        assert error["message"] == message
    assert [r.status_code for r in sim.log.requests] == [400]


@pytest.mark.parametrize(
    ("path", "model"), [("/v1/responses", "sora-2"), ("/v1/moderations", "gpt-5-mini")]
)
async def test_unknown_models_are_refused(client: httpx.AsyncClient, path: str, model: str) -> None:
    response = await client.post(path.removeprefix("/v1"), json={"model": model, "input": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/moderations"])
async def test_auth_is_required(sim: Simulator, path: str) -> None:
    async with client_for(sim, api_key=None) as anonymous:
        response = await anonymous.post(
            path.removeprefix("/v1"), json={"model": "gpt-5-mini", "input": "x"}
        )
    assert response.status_code == 401
    assert "API key" in response.json()["error"]["message"]
    record = sim.log.requests[-1]
    assert (record.path, record.status_code, record.api_key_id) == (path, 401, None)


async def test_injected_server_errors_apply(make_sim: SimFactory) -> None:
    sim = make_sim(faults=FaultConfig(server_error_rate=1.0, server_error_status=503))
    async with client_for(sim) as client:
        response = await client.post("/moderations", json={"input": "x"})
    assert response.status_code == 503
    assert sim.log.requests[-1].fault == "server_error"


async def test_invalid_json_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/responses", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_every_trigger_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text("utf-8")
    for word, categories in TRIGGERS.items():
        row = next(line for line in doc.splitlines() if line.startswith("| ") and word in line)
        assert all(f"`{category}`" in row for category in categories)
