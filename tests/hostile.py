"""A raw HTTP/1.1 server on loopback that answers exactly the bytes a test scripts.

uvicorn (and h11 behind it) refuses to send what a broken or hostile server sends: a body
longer or shorter than its ``Content-Length``, a gzip bomb, a connection cut mid-body. This
server writes whatever :class:`Reply` says, so a test can play a misbehaving provider against
the real client code over a real socket::

    def handler(request: Request) -> Reply:
        return Reply(body=b"not json")

    with HostileServer(handler) as server:
        ...  # point the client at server.base_url

Every request is recorded (``server.requests``) with its headers and body, so a test can assert
the server's ground truth: how many creates arrived, what the client sent.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["HostileServer", "Reply", "Request", "gzip_bomb", "json_reply"]

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    at: float

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class Reply:
    """What to write back, byte for byte."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    content_length: int | Literal["auto"] | None = "auto"
    """``"auto"``: the body's real length; a number: announce that instead; None: no header
    (the body ends when the connection closes)."""
    delay: float = 0.0
    """Real seconds before anything is written (the request has been read)."""
    chunk_delay: float = 0.0
    """Real seconds between body chunks (a slow trickle)."""
    drop_after: int | None = None
    """Cut the connection after this many body bytes."""
    reason: str = "OK"


def json_reply(data: object, status: int = 200, **kwargs: Any) -> Reply:
    """A JSON body with its content type."""
    headers = [("Content-Type", "application/json"), *kwargs.pop("headers", [])]
    return Reply(status=status, headers=headers, body=json.dumps(data).encode(), **kwargs)


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of ``size`` on the wire)."""
    block = bytes(1024 * 1024)
    out = bytearray()
    compressor = gzip.compress  # one member per MiB keeps memory here small
    for _ in range(size // len(block)):
        out += compressor(block, compresslevel=9)
    return bytes(out)


Handler = Callable[[Request], Reply]


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: HostileServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Connection)


class _Connection(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            request = _read_request(sock)
        except (OSError, ValueError):
            return
        if request is None:
            return
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
        try:
            reply = owner.handler(request)
        except Exception as exc:  # a broken test handler: say so rather than hang
            reply = Reply(status=599, body=f"test handler failed: {exc!r}".encode())
        try:
            _write_reply(sock, reply)
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _read_request(sock: socket.socket) -> Request | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
        if len(buffer) > _MAX_HEAD:
            raise ValueError("request head too large")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = rest
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(
        method=method, target=target, headers=headers, body=body[:length], at=time.time()
    )


def _write_reply(sock: socket.socket, reply: Reply) -> None:
    if reply.delay:
        time.sleep(reply.delay)
    chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body
    if reply.content_length == "auto":
        chunks = [b"".join(chunks)]
        length: int | None = len(chunks[0])
    else:
        length = reply.content_length
    head = [f"HTTP/1.1 {reply.status} {reply.reason}"]
    head += [f"{name}: {value}" for name, value in reply.headers]
    if length is not None:
        head.append(f"Content-Length: {length}")
    head.append("Connection: close")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    sent = 0
    for chunk in chunks:
        if reply.drop_after is not None and sent + len(chunk) >= reply.drop_after:
            sock.sendall(chunk[: reply.drop_after - sent])
            return
        sock.sendall(chunk)
        sent += len(chunk)
        if reply.chunk_delay:
            time.sleep(reply.chunk_delay)


class HostileServer:
    """``handler`` served on ``127.0.0.1`` (a free port) from a background thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._server = _TCPServer(self)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the OpenAI Videos protocol lives on this server."""
        return f"{self.url}/v1"

    def received(self, method: str, path: str) -> list[Request]:
        """The requests with this method whose path is ``path`` (e.g. ``/v1/videos``)."""
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def __enter__(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
