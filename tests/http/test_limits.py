"""The HTTP layer's own answers: unknown routes and methods, OPTIONS, bodies over 4 MiB,
and headers that never arrive."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

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


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server that gives a request's headers half a second."""
    db = tmp_path_factory.mktemp("impatient") / "alo.db"
    server = Served(db, ["--header-timeout", "0.5"]).start()
    try:
        yield server
    finally:
        server.stop()


def until_closed(sock: socket.socket) -> bytes:
    answer = b""
    while data := sock.recv(65536):
        answer += data
    return answer


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /healthz HTT", b"POST /v1/alos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"],
    ids=["nothing", "half a request line", "half the headers"],
)
def test_headers_that_do_not_arrive_in_time_get_408_and_a_closed_connection(
    impatient: Served, sent: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        sock.sendall(sent)
        answer = until_closed(sock)  # a socket timeout here would mean: held for ever
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["metadata"]["type"] == "RequestTimeout"


def test_the_header_timeout_does_not_cut_a_long_poll(impatient: Served) -> None:
    with impatient.client() as client:
        assert client.post("/v1/alos", json={"id": "external"}).status_code == 201
        # Well past the header timeout: the poll's own wait ends it, with its own 408.
        waited = client.get("/v1/alos/external/result?wait=1.5s")
        failure = failure_of(waited, 408, "WaitTimedOut")
        assert "did not settle" in failure["message"]
        # The connection it came on still serves.
        assert client.get("/healthz").status_code == 200


def test_options_and_405_name_the_same_methods(client: httpx.Client) -> None:
    for path in ("/v1/alos", "/v1/alos/x", "/v1/alos/x/result", "/v1/alos/x/cancel", "/healthz"):
        options = client.options(path)
        assert options.status_code == 204, path
        refused = client.request("PATCH", path)
        failure_of(refused, 405, "MethodNotAllowed")
        allowed = {m.strip() for m in options.headers["allow"].split(",")}
        assert allowed == {m.strip() for m in refused.headers["allow"].split(",")}, path
    assert set(client.options("/v1/alos").headers["allow"].split(", ")) == {
        "GET",
        "OPTIONS",
        "POST",
    }
