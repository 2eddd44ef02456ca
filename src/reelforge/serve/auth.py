"""Who may use the served application: the serve token, and protection against cross-site requests.

**The token.** With ``REELFORGE_SERVE_TOKEN`` set (required when ``reelforge serve`` is bound
to anything but loopback), every request except ``/hooks/*`` must present it, else 401:

- ``Authorization: Bearer <token>`` (scripts, Prometheus);
- or the session cookie ``reelforge_session``, set by visiting any page once with
  ``?token=<token>``: the answer is a redirect to the same URL without the token, so it does not
  stay in the address bar or the history. The cookie holds an HMAC of the token (never the token
  itself), is ``HttpOnly`` and ``SameSite=Strict`` (and ``Secure`` over https).

``/hooks/*`` is exempt: providers authenticate their deliveries by signature.

**Without a token** (loopback), a request outside ``/hooks/`` must name a loopback host
(``Host: 127.0.0.1:8787``, ``localhost``, ``[::1]``), else 403: a web page whose domain was
made to resolve to 127.0.0.1 (DNS rebinding) cannot read or act on anything, and a tunnel or
proxy forwarding ``--public-url`` to this process exposes only the webhooks. Set a token to
serve pages under any other name.

**Cross-site requests (CSRF).** Every request that is not GET, HEAD or OPTIONS, outside
``/hooks/``, must carry both:

1. the process's CSRF token, :func:`csrf_token` (an HMAC of a random secret drawn when the
   process starts; stable until it stops), in the header ``X-CSRF-Token`` or the form field
   ``csrf_token``. Pages embed it; a script reads it from ``GET /api/session``, which a page of
   another origin cannot read;
2. a same-origin ``Origin``: when the request has one, it must equal the origin the request was
   sent to (``Host``) or that of ``--public-url``. Without ``Origin``, a ``Sec-Fetch-Site``
   header (browsers send one) must say ``same-origin`` or ``none``; a request with neither header
   comes from a non-browser client, which the token (or loopback) already vouches for.

A refused request gets 403 with a JSON body ``{"error": ...}``; a request without the token, 401.
The serve token never appears in an answer, a log or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import SecretStr
from starlette.datastructures import URL, Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "TOKEN_PARAM",
    "AccessMiddleware",
    "csrf_token",
    "is_loopback",
    "session_value",
]

CSRF_HEADER = "X-CSRF-Token"
"""The request header carrying :func:`csrf_token`."""
CSRF_FIELD = "csrf_token"
"""The form field carrying :func:`csrf_token` (for plain HTML forms)."""
SESSION_COOKIE = "reelforge_session"
"""The cookie set by ``?token=...``: an HMAC of the serve token."""
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a password
"""The query parameter that, with the right token, sets the session cookie."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXEMPT_PREFIX = "/hooks/"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_MAX_FORM_BYTES = 1 << 20
"""A form body read to find ``csrf_token`` is at most this long (1 MiB); a longer one: 413."""

_PROCESS_SECRET = secrets.token_bytes(32)


def csrf_token(request: Request | None = None) -> str:
    """The CSRF token every unsafe request must carry (header ``X-CSRF-Token`` or form field
    ``csrf_token``): derived from a secret drawn when the process starts, the same for every
    request until it stops. ``request`` is accepted for the templates' convenience."""
    return hmac.new(_PROCESS_SECRET, b"reelforge-serve-csrf", hashlib.sha256).hexdigest()


def session_value(token: SecretStr) -> str:
    """The session cookie's value for ``token`` (an HMAC of it: the cookie never holds it)."""
    key = token.get_secret_value().encode()
    return hmac.new(key, b"reelforge-serve-session", hashlib.sha256).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``."""
    name = host.strip().lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(headers: Headers) -> str:
    """The host name of the ``Host`` header, without its port."""
    host = headers.get("host", "")
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _exempt(path: str) -> bool:
    """Whether ``path`` is a webhook's (``/hooks/...``, with no ``.`` or ``..`` segment)."""
    if not (path.startswith(_EXEMPT_PREFIX) or path == _EXEMPT_PREFIX.rstrip("/")):
        return False
    return not any(segment in (".", "..") for segment in path.split("/"))


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: dict[str, str]
) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


class AccessMiddleware:
    """The serve token (401) and the CSRF rules (403) around the whole application; see the
    module's docstring. ``token`` None: no token is asked for (loopback); ``public_url``: an
    origin accepted besides the one a request was sent to."""

    def __init__(
        self, app: ASGIApp, *, token: SecretStr | None, public_url: str | None = None
    ) -> None:
        self.app = app
        self._token = token
        self._session = session_value(token) if token is not None else None
        self._public_origin = _origin_of(public_url) if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # nothing is served over websockets
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._token is None and not is_loopback(_host_name(headers)):
            message = (
                "without REELFORGE_SERVE_TOKEN this server answers only to a loopback host "
                "name (127.0.0.1, localhost)"
            )
            await _send_json(send, 403, {"error": message}, {})
            return
        if self._token is not None:
            if scope["method"] in ("GET", "HEAD") and self._token_in_query(scope):
                await self._set_session(scope, send)
                return
            if not self._authenticated(headers):
                await _send_json(
                    send,
                    401,
                    {"error": "this server needs its token (REELFORGE_SERVE_TOKEN)"},
                    {"www-authenticate": 'Bearer realm="reelforge"'},
                )
                return
        if scope["method"] not in _SAFE_METHODS:
            guarded = await self._guard(scope, headers, receive, send)
            if guarded is None:
                return
            receive = guarded
        await self.app(scope, receive, send)

    async def _guard(
        self, scope: Scope, headers: Headers, receive: Receive, send: Send
    ) -> Receive | None:
        """The CSRF rules for an unsafe request: the ``receive`` to go on with (the body may have
        been read to find the form field), or None once a refusal was sent."""
        refusal = self._cross_site(scope, headers)
        if refusal is not None:
            await _send_json(send, 403, {"error": refusal}, {})
            return None
        presented = headers.get(CSRF_HEADER)
        if presented is None and headers.get("content-type", "").startswith(_FORM_TYPES):
            body = await _read_body(receive)
            if body is None:
                await _send_json(send, 413, {"error": "the form is too large"}, {})
                return None
            presented = await _form_field(scope, body, CSRF_FIELD)
            receive = _replay(body, receive)
        if presented is None or not hmac.compare_digest(presented.encode(), csrf_token().encode()):
            message = f"missing or wrong CSRF token (header {CSRF_HEADER} or field {CSRF_FIELD})"
            await _send_json(send, 403, {"error": message}, {})
            return None
        return receive

    def _token_in_query(self, scope: Scope) -> bool:
        assert self._token is not None
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(TOKEN_PARAM, [])
        secret = self._token.get_secret_value().encode()
        return any(hmac.compare_digest(v.encode(), secret) for v in values)

    async def _set_session(self, scope: Scope, send: Send) -> None:
        """Redirect to the same URL without ``?token=``, setting the session cookie."""
        url = URL(scope=scope)
        query = [
            (k, v)
            for k, values in parse_qs(url.query, keep_blank_values=True).items()
            if k != TOKEN_PARAM
            for v in values
        ]
        location = url.path + (f"?{urlencode(query)}" if query else "")
        cookie: SimpleCookie = SimpleCookie()
        assert self._session is not None
        cookie[SESSION_COOKIE] = self._session
        morsel = cookie[SESSION_COOKIE]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Strict"
        if url.scheme == "https":
            morsel["secure"] = True
        head = [
            (b"location", location.encode()),
            (b"set-cookie", morsel.OutputString().encode()),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 303, "headers": head})
        await send({"type": "http.response.body", "body": b""})

    def _authenticated(self, headers: Headers) -> bool:
        assert self._token is not None
        assert self._session is not None
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and presented:
            secret = self._token.get_secret_value().encode()
            return hmac.compare_digest(presented.strip().encode(), secret)
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # an unreadable Cookie header is no session
            return False
        morsel = cookie.get(SESSION_COOKIE)
        return morsel is not None and hmac.compare_digest(
            morsel.value.encode(), self._session.encode()
        )

    def _cross_site(self, scope: Scope, headers: Headers) -> str | None:
        """Why a request is refused as cross-site, or None."""
        origin = headers.get("origin")
        if origin is not None:
            allowed = {_origin_of(str(URL(scope=scope))), self._public_origin} - {None}
            if origin.lower() not in allowed:
                return "cross-origin request refused (its Origin is not this server)"
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in ("same-origin", "none"):
            return f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The request's whole body, or None past :data:`_MAX_FORM_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """A ``receive`` that gives the application the body already read, then ``then``'s messages
    (the disconnect), or a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _form_field(scope: Scope, body: bytes, name: str) -> str | None:
    """The form field ``name`` of ``body`` (url-encoded or multipart), or None."""
    request = Request(scope, _replay(body))
    try:
        form = await request.form()
    except Exception:  # an unreadable form has no CSRF token
        return None
    try:
        value = form.get(name)
        return value if isinstance(value, str) else None
    finally:
        await form.close()
