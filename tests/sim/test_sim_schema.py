"""Every JSON body the simulator answers with validates against the official OpenAPI extract."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from PIL import Image
from simkit import FakeClock, SimFactory, finish

from reelforge.sim import FaultConfig

SPECS = Path(__file__).resolve().parent / "data"  # a copy of the official OpenAPI extract
SPEC_FILE = SPECS / "openai-videos.openapi.yaml"

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return data


def _operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The spec's template and operation for a concrete ``/v1/...`` path (exact paths win)."""
    relative = path.removeprefix("/v1")
    candidates = []
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, relative) and method.lower() in operations:
            candidates.append((template.count("{"), template, operations[method.lower()]))
    assert candidates, f"{method} {path} is not an operation of the spec"
    _, template, operation = min(candidates, key=lambda c: c[0])
    return template, operation


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    # ``$ref``s like '#/components/schemas/VideoResource' resolve against this root document.
    return OAS31Validator({**schema, "components": spec["components"]})


class Recorder:
    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _exercise(c: httpx.AsyncClient, finish_all: Any, middle: Any) -> None:
    created = (await c.post("/videos", json={"prompt": "json create", "seconds": "8"})).json()
    await c.post(
        "/videos",
        data={"prompt": "multipart", "model": "sora-2-pro", "size": "1024x1792"},
        files={"input_reference": ("r.png", _png(1024, 1792), "image/png")},
    )
    blocked = (await c.post("/videos", json={"prompt": "forbidden thing"})).json()
    await c.get(f"/videos/{created['id']}")  # queued
    middle(created["id"])
    await c.get(f"/videos/{created['id']}")  # in_progress
    await c.get("/videos", params={"limit": 1})
    await c.get("/videos", params={"limit": 0})
    finish_all()
    await c.get(f"/videos/{created['id']}")  # completed
    await c.get(f"/videos/{blocked['id']}")  # failed
    remix = (await c.post(f"/videos/{created['id']}/remix", json={"prompt": "remixed"})).json()
    await c.post("/videos/edits", json={"prompt": "edit", "video": {"id": created["id"]}})
    await c.post(
        "/videos/extensions",
        json={"prompt": "more", "seconds": "4", "video": {"id": created["id"]}},
    )
    await c.get(f"/videos/{remix['id']}")
    await c.get("/videos", params={"order": "asc", "limit": 100})
    await c.get(f"/videos/{created['id']}/content")
    await c.get(f"/videos/{created['id']}/content", params={"variant": "thumbnail"})
    await c.delete(f"/videos/{remix['id']}")
    # Errors.
    await c.post("/videos", json={"prompt": "p", "seconds": 4})
    await c.post("/videos", json={"prompt": "p", "model": "nope"})
    await c.get("/videos/video_missing")
    await c.get(f"/videos/{blocked['id']}/content")


async def test_every_response_matches_the_spec(
    spec: dict[str, Any], make_sim: SimFactory, clock: FakeClock
) -> None:
    sim = make_sim(faults=FaultConfig(moderation_patterns=("forbidden",)))
    recorder = Recorder()

    def finish_all() -> None:
        for video_id in sim.videos:
            finish(sim, clock, video_id)

    def middle(video_id: str) -> None:
        view = sim.video(video_id)
        clock.t = (view.started_at + view.finished_at) / 2

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test/v1",
        headers={"Authorization": "Bearer sk-schema"},
        event_hooks={"response": [recorder]},
    ) as c:
        await _exercise(c, finish_all, middle)

    checked: set[str] = set()
    statuses_seen: set[str] = set()
    required_video_keys = set(spec["components"]["schemas"]["VideoResource"]["required"])
    for response in recorder.responses:
        method, path = response.request.method, response.request.url.path
        content_type = response.headers["content-type"].split(";")[0]
        if response.status_code >= 400:
            errors = list(OAS31Validator(ERROR_ENVELOPE).iter_errors(response.json()))
            assert not errors, (method, path, errors)
            continue
        _, operation = _operation(spec, method, path)
        declared = operation["responses"][str(response.status_code)]["content"]
        assert content_type in declared, (method, path, content_type)
        if content_type != "application/json":
            continue
        body = response.json()
        validator = _validator(spec, declared["application/json"]["schema"])
        errors = list(validator.iter_errors(body))
        assert not errors, (method, path, [e.message for e in errors])
        checked.add(operation["operationId"])
        videos = body["data"] if body.get("object") == "list" else [body]
        for video in videos:
            if video.get("object") == "video":
                assert set(video) == required_video_keys
                statuses_seen.add(video["status"])
    assert checked == {
        "createVideo",
        "GetVideo",
        "ListVideos",
        "DeleteVideo",
        "CreateVideoRemix",
        "CreateVideoEdit",
        "CreateVideoExtend",
    }
    assert statuses_seen == {"queued", "in_progress", "completed", "failed"}


def test_validator_catches_a_broken_video(spec: dict[str, Any]) -> None:
    """The check above can fail: a Video missing a required key does not validate."""
    schema = {"$ref": "#/components/schemas/VideoResource"}
    broken = {"id": "video_1", "object": "video", "model": "sora-2", "status": "queued"}
    assert list(_validator(spec, schema).iter_errors(broken))
    bad_status = {
        "id": "video_1",
        "object": "video",
        "model": "sora-2",
        "status": "succeeded",
        "progress": 0,
        "created_at": 1,
        "completed_at": None,
        "expires_at": None,
        "prompt": "p",
        "size": "720x1280",
        "seconds": "4",
        "remixed_from_video_id": None,
        "error": None,
    }
    assert list(_validator(spec, schema).iter_errors(bad_status))
