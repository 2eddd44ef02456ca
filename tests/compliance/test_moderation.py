"""The moderation check against the simulator's ``/v1/moderations`` on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from reelforge.compliance import (
    ComplianceResult,
    ModerationResult,
    Severity,
    Verdict,
    check,
    moderate,
    with_moderation,
)
from reelforge.compliance.moderation import provider_error
from reelforge.core.errors import AuthError, InvalidRequestError, TransientError
from reelforge.sim import EmbeddedSimulator, FaultConfig, SimConfig

CLEAN = "Acme sparkling water: a cold can on a sunlit kitchen counter"
GORY = "A gore-splattered kitchen after the massacre, Acme can in frame"
KEY = "sk-moderation-secret-1234"


@pytest.fixture(scope="module")
def emb() -> Iterator[EmbeddedSimulator]:
    with EmbeddedSimulator(SimConfig()) as server:
        yield server


@pytest.fixture
async def client(emb: EmbeddedSimulator) -> AsyncIterator[openai.AsyncOpenAI]:
    emb.sim.reset()
    async with openai.AsyncOpenAI(base_url=emb.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def _moderation_calls(emb: EmbeddedSimulator) -> int:
    return sum(1 for r in emb.sim.log.requests if r.path == "/v1/moderations")


async def test_results_follow_the_prompts(
    client: openai.AsyncOpenAI, emb: EmbeddedSimulator
) -> None:
    clean, gory = await moderate(client, [CLEAN, GORY])
    assert clean == ModerationResult(prompt=CLEAN, flagged=False, scores=clean.scores)
    assert clean.findings() == ()
    assert gory.prompt == GORY
    assert gory.flagged
    assert gory.categories == ("violence", "violence/graphic")
    assert gory.scores["violence"] > 0.9
    assert _moderation_calls(emb) == 1


async def test_inputs_are_batched(client: openai.AsyncOpenAI, emb: EmbeddedSimulator) -> None:
    prompts = [f"{CLEAN} #{n}" for n in range(40)] + ["cocaine on the counter"]
    results = await moderate(client, prompts)
    assert [r.prompt for r in results] == prompts
    assert [r.flagged for r in results] == [False] * 40 + [True]
    assert results[-1].categories == ("illicit",)
    assert _moderation_calls(emb) == 2


async def test_no_prompts_no_request(client: openai.AsyncOpenAI, emb: EmbeddedSimulator) -> None:
    assert await moderate(client, []) == []
    assert _moderation_calls(emb) == 0


async def test_flagged_result_becomes_error_findings(client: openai.AsyncOpenAI) -> None:
    (gory,) = await moderate(client, [GORY])
    findings = gory.findings()
    assert [f.rule_id for f in findings] == ["moderation.violence", "moderation.violence/graphic"]
    assert {f.severity for f in findings} == {Severity.ERROR}
    assert {f.pack for f in findings} == {"moderation"}
    assert findings[0].category == "violence"


def test_with_moderation_merges_into_a_new_result() -> None:
    base = check(CLEAN)
    assert base.verdict is Verdict.CLEAN
    flagged = ModerationResult(prompt=CLEAN, flagged=True, categories=("hate",))
    merged = with_moderation(base, flagged)
    assert isinstance(merged, ComplianceResult)
    assert merged is not base
    assert merged.verdict is Verdict.REJECT
    assert [f.rule_id for f in merged.errors] == ["moderation.hate"]
    assert base.findings == ()
    clean = ModerationResult(prompt=CLEAN, flagged=False)
    assert with_moderation(base, clean) == base


async def test_wrong_model_is_an_invalid_request(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await moderate(client, [CLEAN], model="gpt-5-mini")
    assert caught.value.status_code == 400
    assert caught.value.code == "model_not_found"
    assert caught.value.request_id is not None
    assert caught.value.message.startswith("moderation failed:")


async def test_server_errors_are_transient_and_keyless() -> None:
    config = SimConfig(faults=FaultConfig(server_error_rate=1.0, server_error_status=503))
    with EmbeddedSimulator(config) as emb:
        async with openai.AsyncOpenAI(base_url=emb.base_url, api_key=KEY, max_retries=0) as sdk:
            with pytest.raises(TransientError) as caught:
                await moderate(sdk, [CLEAN])
    assert caught.value.status_code == 503
    assert caught.value.retry_after == 1.0
    assert KEY not in str(caught.value)


async def test_refused_credentials_are_an_auth_error(emb: EmbeddedSimulator) -> None:
    async with openai.AsyncOpenAI(
        base_url=emb.base_url,
        api_key=KEY,
        max_retries=0,
        default_headers={"Authorization": f"Basic {KEY}"},
    ) as sdk:
        with pytest.raises(AuthError) as caught:
            await moderate(sdk, [CLEAN])
    assert caught.value.status_code == 401
    assert KEY not in str(caught.value)


async def test_unreachable_server_is_transient() -> None:
    with EmbeddedSimulator() as emb:
        url = emb.base_url
    async with openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=5) as sdk:
        with pytest.raises(TransientError) as caught:
            await moderate(sdk, [CLEAN])
    assert caught.value.message.startswith("moderation could not connect")
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "echo", [KEY, "sk-mod*********1234", f"Bearer {KEY}"], ids=["whole", "masked", "header"]
)
def test_provider_error_never_shows_the_key(echo: str) -> None:
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/v1/moderations")
    body = {"error": {"message": f"Incorrect API key provided: {echo}.", "code": "invalid_key"}}
    response = httpx2.Response(401, json=body, request=request)
    exc = openai.AuthenticationError("Error code: 401", response=response, body=body["error"])
    error = provider_error(exc, secret=KEY, action="moderation")
    assert isinstance(error, AuthError)
    assert "Incorrect API key provided" in error.message
    assert "sk-mod" not in str(error)
    assert "1234" not in str(error)


def test_flagged_without_a_category_still_blocks() -> None:
    result = ModerationResult(prompt="x", flagged=True, categories=())
    (finding,) = result.findings()
    assert finding.rule_id == "moderation.flagged"
    assert finding.severity is Severity.ERROR
    assert ModerationResult(prompt="x", flagged=False, categories=()).findings() == ()


def test_provider_error_redacts_the_key_from_the_request_id_code_and_param() -> None:
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/v1/moderations")
    body = {"error": {"message": "bad", "code": f"c-{KEY}", "param": f"p-{KEY}"}}
    response = httpx2.Response(400, json=body, headers={"x-request-id": KEY}, request=request)
    exc = openai.BadRequestError("Error code: 400", response=response, body=body["error"])
    error = provider_error(exc, secret=KEY, action="moderation")
    assert error.request_id is not None
    assert KEY not in f"{error.request_id} {error.code} {error.param} {error}"
