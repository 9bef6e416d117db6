"""A result-URL receiver on 127.0.0.1 that fails as the seed says, and records every POST.

``/ok/N`` answers 500 a seeded number of times per (ALO id, path), then 200;
``/gone`` always answers 404 (the engine gives up at once).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

GONE = "/gone"
FAIL_CHOICES = (0, 0, 0, 1, 2, 3, 9)  # 9 outlasts the give-up age: abandoned


@dataclass(frozen=True)
class Post:
    alo_id: str
    path: str
    answered: int
    body: dict[str, Any]
    webhook_id: str | None
    at_ns: int  # monotonic, when it was answered
    peer: int = 0  # the sender's TCP port (127.0.0.1): which process sent it


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed child or a closed system drops its connections mid-request


@dataclass
class Receiver:
    seed: int
    posts: list[Post] = field(default_factory=list)
    _seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def fails(self, alo_id: str, path: str) -> int:
        """How many POSTs of this outcome to ``path`` are answered 500 first."""
        return random.Random(f"{self.seed}/{alo_id}/{path}").choice(FAIL_CHOICES)

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def answer(self, path: str, body: bytes, webhook_id: str | None, peer: int = 0) -> int:
        try:
            parsed = json.loads(body)
            alo_id = str(parsed["id"])
        except (ValueError, KeyError, TypeError):
            return 400
        with self._lock:
            key = (alo_id, path)
            before = self._seen[key]
            self._seen[key] += 1
            if path == GONE:
                status = 404
            elif path.startswith("/ok/"):
                status = 500 if before < self.fails(alo_id, path) else 200
            else:
                status = 400
            self.posts.append(
                Post(alo_id, path, status, parsed, webhook_id, time.monotonic_ns(), peer)
            )
        return status

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                webhook_id = self.headers.get("webhook-id")
                status = receiver.answer(self.path, body, webhook_id, self.client_address[1])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sim-receiver", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def snapshot(self) -> list[Post]:
        with self._lock:
            return list(self.posts)
