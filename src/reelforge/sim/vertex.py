"""The simulator's Vertex AI Veo protocol (``…/publishers/google/models/{model}:…``), its OAuth2
token endpoint (``POST /token``) and a Cloud Storage JSON-API read route for ``gs://`` output.

Operations are jobs of the shared store (``protocol="vertex"``; the id is the operation's
UUID), so they share the clock, the in-flight limit, the injected faults, the create log and the
media with the other protocols. Wire shapes live in :mod:`reelforge.sim.vertex_wire`. See
``docs/simulator.md`` (Vertex (Veo on Google Cloud)).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelforge.core.capabilities import capabilities_for
from reelforge.core.catalog import dimensions, wire_problems
from reelforge.core.models import Variant
from reelforge.sim.content import content_response
from reelforge.sim.log import api_key_id
from reelforge.sim.protocol import ApiError
from reelforge.sim.routing import Authenticate, Endpoint, Handler, Wrap
from reelforge.sim.state import Job
from reelforge.sim.vertex_wire import (
    GOOGLE_TOKEN_AUDIENCE,
    JWT_BEARER_GRANT,
    SIMULATOR_SERVICE_ACCOUNT,
    GoogleError,
    GrantRefused,
    TokenTable,
    operation_json,
    public_key,
    render_error,
    verify_assertion,
    wall_now,
)
from reelforge.sim.videos import Ctx, new_job

if TYPE_CHECKING:
    from reelforge.sim.simulator import Simulator

__all__ = ["routes", "token_routes"]

PROTOCOL = "vertex"
_MODEL_PATH = (
    "/{version:str}/projects/{project:str}/locations/{location:str}"
    "/publishers/google/models/{action:str}"
)
_VERSIONS = ("v1", "v1beta1")
_NAME_RE = re.compile(
    r"^projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/]+)/operations/"
    r"([0-9a-f-]{36})$"
)
_GCS_RE = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,220})(?:/(.*))?$")
_IMAGE_FIELDS = ("image", "lastFrame")

_TABLES: weakref.WeakKeyDictionary[Simulator, TokenTable] = weakref.WeakKeyDictionary()


def tokens(sim: Simulator) -> TokenTable:
    """The access tokens ``sim``'s token endpoint has issued."""
    table = _TABLES.get(sim)
    if table is None:
        table = _TABLES[sim] = TokenTable()
    return table


def _trusted_keys(sim: Simulator) -> dict[str, rsa.RSAPublicKey]:
    keys = {
        SIMULATOR_SERVICE_ACCOUNT["client_email"]: public_key(
            SIMULATOR_SERVICE_ACCOUNT["private_key"]
        )
    }
    for email, pem in sim.config.vertex.service_accounts.items():
        keys[email] = public_key(pem)
    return keys


def _authenticator(sim: Simulator) -> Authenticate:
    def authenticate(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        account = None
        if scheme.lower() == "bearer":
            account = tokens(sim).account(token.strip(), sim.now())
        if account is None:
            raise ApiError(status=401, message="unauthenticated")
        # Jobs belong to the service account, not the token: a refreshed token sees them.
        return api_key_id(account)

    return authenticate


def _invalid(message: str) -> GoogleError:
    return GoogleError(status=400, message=message)


def _not_found(message: str) -> GoogleError:
    return GoogleError(status=404, message=message)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _invalid("Invalid JSON payload received.") from None
    if not isinstance(data, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    return data


def _path(ctx: Ctx, verb: str) -> tuple[str, str, str]:
    params = ctx.request.path_params
    model, _, action = str(params["action"]).partition(":")
    if params["version"] not in _VERSIONS or action != verb:
        raise _not_found(f"The requested URL {ctx.request.url.path} was not found.")
    return str(params["project"]), str(params["location"]), model


def _model_known(sim: Simulator, model: str) -> bool:
    return model in sim.config.extra_models or capabilities_for(model, PROTOCOL).known


def _image_url(value: object, field: str) -> str:
    if not isinstance(value, dict):
        raise _invalid(f"instances[0].{field} must be an object.")
    mime = value.get("mimeType")
    if "bytesBase64Encoded" in value:
        data = value["bytesBase64Encoded"]
        if not isinstance(data, str) or not data:
            raise _invalid(f"instances[0].{field}.bytesBase64Encoded must be base64.")
        return f"data:{mime or 'image/png'};base64,{data}"
    uri = value.get("gcsUri")
    if isinstance(uri, str) and _GCS_RE.match(uri):
        return uri
    raise _invalid(f"instances[0].{field} needs bytesBase64Encoded or a gs:// gcsUri.")


def _flat_input(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request as one flat model input (instance fields then parameters), and the
    parameters."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise _invalid("instances must hold exactly one instance object.")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _invalid("parameters must be an object.")
    instance = instances[0]
    flat: dict[str, Any] = {"prompt": instance.get("prompt")}
    for field in _IMAGE_FIELDS:
        if field in instance:
            flat[field] = _image_url(instance[field], field)
    count = parameters.get("sampleCount", 1)
    if count != 1:
        raise _invalid("sampleCount: the simulator makes one video per request (1).")
    flat.update({k: v for k, v in parameters.items() if k not in ("sampleCount", "storageUri")})
    return flat, parameters


def _check(sim: Simulator, model: str, flat: dict[str, Any]) -> None:
    if model in sim.config.extra_models:
        prompt = flat.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid("instances[0].prompt is required.")
        return
    problems = wire_problems(capabilities_for(model, PROTOCOL), flat)
    if problems:
        raise _invalid("; ".join(f"{problem.field}: {problem.message}" for problem in problems))


def _shape(sim: Simulator, model: str, flat: dict[str, Any]) -> tuple[int, str]:
    extra = sim.config.extra_models.get(model)
    duration = flat.get("durationSeconds")
    if extra is not None:
        seconds = duration if isinstance(duration, int) and duration > 0 else extra.seconds[0]
        return seconds, extra.sizes[0]
    caps = capabilities_for(model, PROTOCOL)
    seconds = duration if isinstance(duration, int) else caps.default_seconds
    ratio = flat.get("aspectRatio") or caps.default_aspect_ratio
    resolution = flat.get("resolution") or caps.default_resolution
    return seconds, dimensions(
        ratio if isinstance(ratio, str) else None,
        resolution if isinstance(resolution, str) else None,
    )


def _operation_id(bits: int) -> str:
    return str(uuid.UUID(int=bits & ((1 << 128) - 1), version=4))


async def predict(ctx: Ctx) -> Response:
    """``POST …/models/{model}:predictLongRunning``: makes the job, answers ``{name}``."""
    project, location, model = _path(ctx, "predictLongRunning")
    sim = ctx.sim
    if not _model_known(sim, model):
        raise _not_found(
            f"Publisher Model `projects/{project}/locations/{location}/publishers/google/"
            f"models/{model}` was not found or your project does not have access to it."
        )
    flat, parameters = _flat_input(await _json_object(ctx.request))
    _check(sim, model, flat)
    storage = parameters.get("storageUri")
    gcs = _GCS_RE.match(storage) if isinstance(storage, str) else None
    if storage is not None and gcs is None:
        raise _invalid("parameters.storageUri must be a gs://bucket/prefix URI.")
    seconds, size = _shape(sim, model, flat)
    delay = sim.config.faults.create_delay
    if delay > 0:
        ctx.faults.append("create_delay")
        await asyncio.shield(asyncio.sleep(delay))
    prefix = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
    state: dict[str, Any] = {"project": project, "location": location, "model": model}

    def operation_id(bits: int) -> str:
        # Named here, before the job exists, so a job made under an injected 5xx has its
        # name and output location too.
        found = _operation_id(bits)
        state["name"] = f"{prefix}/operations/{found}"
        if gcs is not None:
            bucket, path = gcs.group(1), (gcs.group(2) or "").strip("/")
            obj = f"{path}/{found}/sample_0.mp4" if path else f"{found}/sample_0.mp4"
            state["gcs_uri"] = f"gs://{bucket}/{obj}"
            state["gcs"] = (bucket, obj)
        return found

    job = new_job(
        ctx,
        prompt=str(flat["prompt"]),
        model=model,
        seconds=seconds,
        size=size,
        kind="create",
        protocol=PROTOCOL,
        id_format=operation_id,
        data=state,
    )
    ctx.video_status = "created"
    return JSONResponse({"name": job.data["name"]})


def _operation(ctx: Ctx, prefix: str, name: object) -> Job:
    if not isinstance(name, str) or not name:
        raise _invalid("operationName is required.")
    match = _NAME_RE.match(name)
    if match is None or not name.startswith(prefix + "/operations/"):
        raise _invalid(f"Invalid operation name {name[:200]!r} for {prefix}.")
    job = ctx.sim.store.get(match.group(4), ctx.api_key_id)
    if job is None or job.protocol != PROTOCOL or job.data.get("name") != name:
        raise _not_found(f"Operation {name[:200]} not found.")
    return job


async def _inline(sim: Simulator, job: Job) -> str:
    def read() -> str:
        media = sim.media_job(job)
        size = sim.media.size(media, Variant.VIDEO)
        raw = b"".join(sim.media.chunks(media, Variant.VIDEO, 0, size))
        return base64.b64encode(raw).decode("ascii")

    return await asyncio.to_thread(read)


async def fetch(ctx: Ctx) -> Response:
    """``POST …/models/{model}:fetchPredictOperation`` with ``{"operationName": …}``."""
    project, location, model = _path(ctx, "fetchPredictOperation")
    prefix = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
    body = await _json_object(ctx.request)
    job = _operation(ctx, prefix, body.get("operationName"))
    now = ctx.now
    state, _ = job.status(now)
    inline = None
    if state.is_terminal and job.fail_code is None and not job.data.get("gcs_uri"):
        inline = await _inline(ctx.sim, job)
    answer = operation_json(job, now, inline=inline)
    ctx.video_status = "done" if answer.get("done") else "running"
    return JSONResponse(answer)


def _gcs_object(sim: Simulator) -> Handler:
    async def serve(ctx: Ctx) -> Response:
        params = ctx.request.path_params
        key = (str(params["bucket"]), str(params["object"]))
        if ctx.request.query_params.get("alt") != "media":
            raise _invalid("The simulator serves object media only (alt=media).")
        job = next(
            (
                j
                for j in sim.store.jobs
                if j.protocol == PROTOCOL
                and tuple(j.data.get("gcs", ())) == key
                and j.api_key_id == ctx.api_key_id
                and j.status(ctx.now)[0].is_terminal
                and j.fail_code is None
            ),
            None,
        )
        if job is None:
            raise _not_found(f"No such object: {key[0]}/{key[1]}")
        drop = sim.faults.drop_download(job.id, Variant.VIDEO)
        return await content_response(
            sim.media,
            sim.media_job(job),
            Variant.VIDEO,
            ctx.request.headers.get("range"),
            drop_fraction=sim.config.faults.drop_after_fraction if drop else None,
        )

    return serve


def routes(sim: Simulator, wrap: Wrap) -> list[Route]:
    """The protocol's routes (mounted before the OpenAI catch-all and fal's queue paths)."""
    authenticate = _authenticator(sim)

    def ep(handler: Handler, *, creates: bool = False) -> Endpoint:
        return wrap(handler, creates=creates, authenticate=authenticate, render_error=render_error)

    predict_ep = ep(predict, creates=True)
    fetch_ep = ep(fetch)

    async def model_action(request: Request) -> Response:
        action = str(request.path_params["action"])
        if action.endswith(":predictLongRunning"):
            return await predict_ep(request)
        return await fetch_ep(request)

    return [
        Route(_MODEL_PATH, model_action, methods=["POST"]),
        Route("/storage/v1/b/{bucket:str}/o/{object:path}", ep(_gcs_object(sim)), methods=["GET"]),
    ]


def token_routes(sim: Simulator) -> list[Route]:
    """``POST /token``: the OAuth2 JWT-bearer grant (unauthenticated, like Google's)."""

    async def token(request: Request) -> Response:
        form = await request.form()
        try:
            if form.get("grant_type") != JWT_BEARER_GRANT:
                raise GrantRefused(
                    error="unsupported_grant_type", description="Invalid grant_type."
                )
            assertion = form.get("assertion")
            if not isinstance(assertion, str) or not assertion:
                raise GrantRefused(error="invalid_request", description="Missing assertion.")
            own = str(request.url.replace(query="", fragment=""))
            account = verify_assertion(
                assertion,
                keys=_trusted_keys(sim),
                audiences={GOOGLE_TOKEN_AUDIENCE, own},
                now=wall_now(),
            )
        except GrantRefused as exc:
            body = {"error": exc.error, "error_description": exc.description}
            return JSONResponse(body, status_code=400)
        lifetime = sim.config.vertex.token_lifetime
        valid_for = sim.config.vertex.token_valid_for or lifetime
        access = tokens(sim).issue(account, sim.now(), min(lifetime, valid_for))
        return JSONResponse(
            {"access_token": access, "expires_in": int(lifetime), "token_type": "Bearer"}
        )

    return [Route("/token", token, methods=["POST"])]
