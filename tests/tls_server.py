"""A small real HTTPS (or plain HTTP) server on 127.0.0.1 for tests, run in a thread.

It serves canned :class:`Reply` objects per path and records every request it sees, so tests can
check what a client sent (``If-None-Match``, ...) and that it never reached a server it must not
reach. TLS uses a fixture chain (``fixtures/chains/<name>/server.pem`` + ``leaf.key``); clients
trust that chain's ``root.pem``::

    with HTTPSServer(chain="rsa2048-g1-us-east-1") as server:
        server.route("/b.pem", Reply(body=data, headers={"ETag": '"v1"'}))
        requests.get(server.url("/b.pem"), verify=server.ca_file)
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHAINS = Path(__file__).resolve().parent.parent / "fixtures" / "chains"


@dataclass(frozen=True)
class Reply:
    """What the server answers: status, headers, body, and an optional delay before answering.

    A ``bytes`` body is sent with a ``Content-Length`` (unless ``headers`` sets one, to lie);
    an iterable body is streamed without one and ends when the connection closes, so an endless
    generator models a runaway download.
    """

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it (header names lowercased)."""

    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[SeenRequest], Reply]


def endless(chunk: bytes = b"A" * 65536) -> Iterable[bytes]:
    """A body that never ends."""
    while True:
        yield chunk


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HTTPSServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        context = self.owner.ssl_context
        if context is None:
            return sock, addr
        # Handshake in the handler thread (on first read), not in the accept loop: a client that
        # rejects our certificate must not stall the server.
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that refuse our certificate or hang up early are what many tests are about.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        seen = SeenRequest(
            method="GET",
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        reply = owner._answer(seen)
        if reply.delay and owner.stopping.wait(reply.delay):
            return
        try:
            self.send_response(reply.status)
            headers = {k.lower(): v for k, v in reply.headers.items()}
            if isinstance(reply.body, bytes) and "content-length" not in headers:
                headers["content-length"] = str(len(reply.body))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            if isinstance(reply.body, bytes):
                self.wfile.write(reply.body)
            else:
                for chunk in reply.body:
                    if owner.stopping.is_set():
                        return
                    self.wfile.write(chunk)
                    owner.bytes_streamed += len(chunk)
        except (OSError, ssl.SSLError):
            return  # the client hung up (as a size cap or timeout makes it do)


class HTTPSServer:
    """A threaded HTTPS server on 127.0.0.1 with a fixture certificate; ``chain=None`` is HTTP."""

    def __init__(self, chain: str | None = "rsa2048-g1-us-east-1") -> None:
        self.chain = chain
        self.ssl_context: ssl.SSLContext | None = None
        if chain is not None:
            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(
                CHAINS / chain / "server.pem", CHAINS / chain / "leaf.key"
            )
        self.requests: list[SeenRequest] = []
        self.stopping = threading.Event()
        self.bytes_streamed = 0
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_file(self) -> Path:
        """The root certificate a client must trust to accept this server."""
        assert self.chain is not None
        return CHAINS / self.chain / "root.pem"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        """The URL of ``path`` on this server (https:// unless plain HTTP)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str, answer: Reply | Sequence[Reply] | Handler) -> None:
        """Answer ``path`` with a fixed reply, a sequence (one per request, the last repeats), or
        a function of the request."""
        if isinstance(answer, Reply):
            fixed = answer
            self._routes[path] = lambda _req: fixed
        elif callable(answer):
            self._routes[path] = answer
        else:
            replies = list(answer)
            count = iter(range(1_000_000))
            self._routes[path] = lambda _req: replies[min(next(count), len(replies) - 1)]

    def seen(self, path: str) -> list[SeenRequest]:
        """The requests received for ``path`` so far."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _answer(self, request: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            handler = self._routes.get(request.path)
            if handler is None:
                return Reply(404, b"not found\n", {"Content-Type": "text/plain"})
            return handler(request)

    def __enter__(self) -> HTTPSServer:
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            with contextlib.suppress(OSError):
                self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
