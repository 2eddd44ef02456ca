"""Create requests the real API rejects: status 400 and its error envelope, nothing created."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from simkit import SimFactory, client_for

from reelforge.sim import ExtraModel, Simulator


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


INVALID_JSON: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "seconds as an integer",
        {"prompt": "p", "seconds": 4},
        "seconds",
        "Invalid type for 'seconds': expected one of '4', '8', or '12', "
        "but got an integer instead.",
    ),
    (
        "seconds outside the set",
        {"prompt": "p", "seconds": "10"},
        "seconds",
        "Invalid value: '10'. Supported values are: '4', '8', and '12'.",
    ),
    (
        "pro size on sora-2",
        {"prompt": "p", "size": "1024x1792"},
        "size",
        "Invalid value: '1024x1792'. Supported values are: '720x1280' and '1280x720'.",
    ),
    (
        "prompt too long",
        {"prompt": "x" * 32_001},
        "prompt",
        "Invalid 'prompt': string too long. Expected a string with maximum length 32000, "
        "but got a string with length 32001 instead.",
    ),
    (
        "empty prompt",
        {"prompt": ""},
        "prompt",
        "Invalid 'prompt': string too short. Expected a string with minimum length 1, "
        "but got an empty string instead.",
    ),
    ("missing prompt", {"model": "sora-2"}, "prompt", "Missing required parameter: 'prompt'."),
    (
        "prompt not a string",
        {"prompt": 42},
        "prompt",
        "Invalid type for 'prompt': expected a string, but got an integer instead.",
    ),
    (
        "unknown model",
        {"prompt": "p", "model": "sora-3"},
        "model",
        "The model 'sora-3' does not exist or you do not have access to it.",
    ),
    (
        "reference image of the wrong size",
        {
            "prompt": "p",
            "input_reference": {
                "image_url": "data:image/png;base64," + base64.b64encode(_png(64, 64)).decode()
            },
        },
        "input_reference",
        "Inpaint image must match the requested width and height",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [case[1:] for case in INVALID_JSON],
    ids=[case[0] for case in INVALID_JSON],
)
async def test_invalid_create_is_rejected_with_the_real_message(
    client: httpx.AsyncClient, sim: Simulator, body: dict[str, Any], param: str, message: str
) -> None:
    response = await client.post("/videos", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == message
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"].startswith("req_")
    assert sim.log.creates == []


async def test_unknown_model_code_and_optional_404(make_sim: SimFactory) -> None:
    for status in (400, 404):
        sim = make_sim(unknown_model_status=status)
        async with client_for(sim) as c:
            response = await c.post("/videos", json={"prompt": "p", "model": "nope"})
        assert response.status_code == status
        assert response.json()["error"]["code"] == "model_not_found"


async def test_multipart_reference_image_must_match_size(client: httpx.AsyncClient) -> None:
    wrong = await client.post(
        "/videos",
        data={"prompt": "p", "size": "720x1280"},
        files={"input_reference": ("r.png", _png(1280, 720), "image/png")},
    )
    assert wrong.status_code == 400
    assert (
        wrong.json()["error"]["message"]
        == "Inpaint image must match the requested width and height"
    )
    not_an_image = await client.post(
        "/videos", data={"prompt": "p"}, files={"input_reference": ("r.png", b"nope", "image/png")}
    )
    assert not_an_image.status_code == 400
    assert not_an_image.json()["error"]["param"] == "input_reference"
    right = await client.post(
        "/videos",
        data={"prompt": "p", "size": "720x1280"},
        files={"input_reference": ("r.png", _png(720, 1280), "image/png")},
    )
    assert right.status_code == 200


async def test_multipart_seconds_string_is_fine_and_bad_value_rejected(
    client: httpx.AsyncClient,
) -> None:
    ok = await client.post("/videos", data={"prompt": "p", "seconds": "12"}, files={"x": b""})
    assert ok.json()["seconds"] == "12"
    bad = await client.post("/videos", data={"prompt": "p", "seconds": "4.0"}, files={"x": b""})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_value"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
async def test_malformed_json_body(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(
        "/videos", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_extra_models_accept_gateway_names(make_sim: SimFactory) -> None:
    sim = make_sim(extra_models={"veo-3.1": ExtraModel(seconds=(4, 6, 8), sizes=("1920x1080",))})
    async with client_for(sim) as c:
        ok = await c.post(
            "/videos", json={"prompt": "p", "model": "veo-3.1", "seconds": "6", "size": "1920x1080"}
        )
        assert ok.status_code == 200
        assert ok.json()["model"] == "veo-3.1"
        default = await c.post("/videos", json={"prompt": "p", "model": "veo-3.1"})
        assert (default.json()["seconds"], default.json()["size"]) == ("4", "1920x1080")
        bad = await c.post("/videos", json={"prompt": "p", "model": "veo-3.1", "seconds": "12"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            "Invalid value: '12'. Supported values are: '4', '6', and '8'."
        )


async def test_bad_variant_is_rejected(client: httpx.AsyncClient) -> None:
    video = (await client.post("/videos", json={"prompt": "p"})).json()
    response = await client.get(f"/videos/{video['id']}/content", params={"variant": "gif"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "variant"
