"""A real HTTP receiver on 127.0.0.1 for result-URL tests: records every POST and
answers as each path's plan says."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alo_actor._clock import Clock
from tests.conftest import wait_until

# A reply: a status; "close" (drop the connection unanswered); ("sleep", s, status);
# ("block", event, status); ("huge", status): an endless body; ("hangup", status): answer,
# then close the connection unannounced (as an idle keep-alive timeout does).
Reply = Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    clock_time: float  # the manual clock's reading when the request arrived
    client_port: int  # tells the connections apart


@dataclass
class Receiver:
    clock: Clock
    scheme: str = "http"
    host: str = "127.0.0.1"
    port: int = 0
    plans: dict[str, list[Reply]] = field(default_factory=dict)
    defaults: dict[str, Reply] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    huge_bytes_sent: int = 0
    # Set once a "huge" answer has stopped (the client hung up, or it was all sent).
    huge_done: threading.Event = field(default_factory=threading.Event)
    # Connections this side has closed (after a "hangup", say), counted once closed.
    closed: int = 0

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def to(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def count(self, path: str) -> int:
        return len(self.to(path))

    def wait_count(self, path: str, n: int, what: str) -> None:
        wait_until(lambda: self.count(path) == n, what=what)

    def record(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            plan = self.plans.get(request.path)
            if plan:
                return plan.pop(0)
            return self.defaults.get(request.path, 200)


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = receiver.record(
                Request(self.path, headers, body, receiver.clock.now(), self.client_address[1])
            )
            if reply == "close":
                self.close_connection = True
                return
            if isinstance(reply, tuple) and reply[0] == "sleep":
                time.sleep(reply[1])
                reply = reply[2]
            elif isinstance(reply, tuple) and reply[0] == "block":
                reply[1].wait(10)
                reply = reply[2]
            elif isinstance(reply, tuple) and reply[0] == "huge":
                self._send_huge(reply[1])
                return
            elif isinstance(reply, tuple) and reply[0] == "hangup":
                self.close_connection = True
                reply = reply[1]
            self.send_response(reply)
            if 300 <= reply < 400:
                self.send_header("Location", receiver.url("/elsewhere"))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def _send_huge(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(1 << 10):
                    self.wfile.write(chunk)
                    receiver.huge_bytes_sent += len(chunk)
            except OSError:
                pass
            finally:
                receiver.huge_done.set()
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: Any, receiver: Receiver) -> None:
        super().__init__(address, handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # broken pipes and failed handshakes are what some tests are about

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)  # the socket is closed when this returns
        with self.receiver.lock:
            self.receiver.closed += 1


@contextlib.contextmanager
def serving(clock: Clock, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    rec = Receiver(clock, scheme="https" if tls else "http")
    server = Server(("127.0.0.1", 0), handler_for(rec), rec)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
