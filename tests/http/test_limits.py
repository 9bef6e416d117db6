"""The HTTP layer's own answers: unknown routes and methods, and bodies over 4 MiB."""

from __future__ import annotations

import socket

import httpx

from tests.http.conftest import Served
from tests.http.support import failure_of

FOUR_MIB = 4 * 1024 * 1024


def test_unknown_routes_and_methods_answer_with_a_failure(client: httpx.Client) -> None:
    failure_of(client.get("/v2/anything"), 404, "NotFound")
    failure_of(client.delete("/v1/alos/some-id"), 405, "MethodNotAllowed")


def raw_exchange(served: Served, head: bytes, chunks: list[bytes]) -> bytes:
    """Send ``head`` and ``chunks`` on a fresh connection; return what the server answered."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_a_body_announced_over_4_mib_is_refused_before_it_is_read(served: Served) -> None:
    head = (
        f"POST /v1/alos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {FOUR_MIB + 1}\r\n\r\n"
    ).encode()
    # Only the first bytes are sent: the answer comes without the rest.
    answer = raw_exchange(served, head, [b'{"id": "big", "input": "'])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_streamed_body_over_4_mib_is_413(served: Served) -> None:
    head = (
        b"POST /v1/alos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"z" * (256 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = raw_exchange(served, head, [chunk] * 17 + [b"0\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    with served.client() as client:
        assert client.get("/healthz").status_code == 200
