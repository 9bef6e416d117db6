"""``GET /v1/changes`` over plain HTTP: positions, resuming, the id filter, keep-alive,
and how a stream ends (server's cap, client gone, shutdown)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from alo_actor.http import create_app
from alo_actor.http._changes import (
    BATCH,
    KEEPALIVE,
    STREAM_READ_INTERVAL,
    Batch,
    HeadWatch,
    _Shared,
)
from tests.conftest import wait_until
from tests.console.sse import Frame, changes, frames
from tests.console.support import alo_serve, fresh
from tests.http.conftest import GREETING_APP, Served, free_port
from tests.http.support import failure_of

READ_TIMEOUT = KEEPALIVE + 10.0  # a quiet stream sends a comment well within this


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with alo_serve(tmp_path_factory.mktemp("changes"), "--app", GREETING_APP) as served:
        yield served


@pytest.fixture
def http(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(10, read=READ_TIMEOUT)) as c:
        yield c


def opening(stream: Iterator[Frame]) -> int:
    """The position a stream starts after, from its first frame."""
    first = next(stream)
    assert first.retry is not None and first.retry > 0
    (comment,) = first.comments
    return int(comment.rsplit(" ", 1)[1])


def test_each_change_is_named_by_its_log_position(http: httpx.Client) -> None:
    external, greeted = fresh(), fresh()
    with http.stream("GET", "/v1/changes") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = frames(response)
        start = opening(stream)
        assert (
            http.post("/v1/alos", json={"id": external, "metadata": {"k": "v"}}).status_code == 201
        )
        started = {"id": greeted, "operation": "greeting", "input": {"name": "Ada"}}
        assert http.post("/v1/alos", json=started).status_code == 201
        seen = changes(stream, 3)
    positions = [change["position"] for change in seen]
    assert positions == sorted(positions) and positions[0] > start
    assert [(c["id"], c["type"]) for c in seen] == [
        (external, "Started"),
        (greeted, "Started"),
        (greeted, "Completed"),
    ]
    assert seen[0]["status"] == "running"
    assert seen[0]["info"]["metadata"] == {"k": "v"}
    assert seen[0]["info"]["id"] == external
    # The info is the ALO's as read when sent: the greeting had completed by then.
    assert seen[2]["status"] == seen[2]["info"]["status"] == "completed"


def test_last_event_id_resumes_right_after_that_position(http: httpx.Client) -> None:
    alo_id = fresh()
    with http.stream("GET", "/v1/changes") as response:
        stream = frames(response)
        opening(stream)
        for verb in ("", "/pause", "/resume", "/cancel"):
            path = "/v1/alos" + (f"/{alo_id}{verb}" if verb else "")
            body: dict[str, Any] = {"id": alo_id} if not verb else {}
            assert http.post(path, json=body).status_code in (200, 201)
        seen = changes(stream, 4)
    assert [c["type"] for c in seen] == ["Started", "Paused", "Resumed", "Cancelled"]

    # Last-Event-ID (what EventSource sends when it reconnects) wins over after=.
    headers = {"Last-Event-ID": str(seen[1]["position"])}
    with http.stream("GET", "/v1/changes", params={"after": 0}, headers=headers) as response:
        stream = frames(response)
        assert opening(stream) == seen[1]["position"]
        resumed = changes(stream, 2)
    # The same events; each with the ALO's info as it is when sent (cancelled by now,
    # while the first stream may have sent an event before the next was committed).
    assert [(c["position"], c["type"]) for c in resumed] == [
        (c["position"], c["type"]) for c in seen[2:]
    ]
    assert [c["status"] for c in resumed] == ["cancelled", "cancelled"]

    with http.stream("GET", "/v1/changes", params={"after": seen[2]["position"]}) as response:
        assert changes(frames(response), 1)[0]["type"] == "Cancelled"


def test_the_id_filter_follows_one_alo(http: httpx.Client) -> None:
    mine, other = fresh(), fresh()
    with http.stream("GET", "/v1/changes") as response:
        start = opening(frames(response))
    assert http.post("/v1/alos", json={"id": mine}).status_code == 201
    assert http.post("/v1/alos", json={"id": other}).status_code == 201
    assert http.post(f"/v1/alos/{other}/cancel", json={}).status_code == 200
    assert http.post(f"/v1/alos/{mine}/complete", json={"result": 1}).status_code == 200
    with http.stream("GET", "/v1/changes", params={"after": start, "id": mine}) as response:
        seen = changes(frames(response), 2)
    assert [(c["id"], c["type"]) for c in seen] == [(mine, "Started"), (mine, "Completed")]


def test_a_quiet_stream_sends_comments(http: httpx.Client) -> None:
    with http.stream("GET", "/v1/changes", params={"id": fresh()}) as response:
        stream = frames(response)
        opening(stream)
        quiet = next(stream)
    assert quiet.event is None and quiet.id is None
    assert quiet.comments == ["keep-alive"]


@pytest.mark.parametrize(
    ("params", "headers", "named"),
    [
        ({"after": "-1"}, {}, "after"),
        ({"after": "soon"}, {}, "after"),
        ({}, {"Last-Event-ID": "x"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "-3"}, "Last-Event-ID"),
        ({"after": str(2**63)}, {}, "after"),  # past any position a log can hold
        ({}, {"Last-Event-ID": str(2**63)}, "Last-Event-ID"),
        ({"since": "0"}, {}, "since"),
        ({"id": ""}, {}, "id"),
    ],
)
def test_a_bad_request_is_a_400_that_names_the_parameter(
    http: httpx.Client, params: dict[str, str], headers: dict[str, str], named: str
) -> None:
    response = http.get("/v1/changes", params=params, headers=headers)
    assert named in failure_of(response, 400)["message"]


def test_a_stream_ends_cleanly_on_shutdown(tmp_path: Path) -> None:
    served = Served(tmp_path / "alo.db").start()
    try:
        with (
            httpx.Client(base_url=served.base_url, timeout=httpx.Timeout(10, read=60)) as http,
            http.stream("GET", "/v1/changes", params={"after": 0}) as response,
        ):
            stream = frames(response)
            opening(stream)
            assert served.process is not None
            served.process.terminate()
            # The stream ends with the chunked body's last chunk: a server that cut
            # it off instead would make httpx raise here.
            rest = list(stream)
        assert all(frame.event is None for frame in rest)
        assert served.stop() in (0, -signal.SIGTERM), served.output
        assert "graceful shutdown exceeded" not in served.output
        assert "Traceback" not in served.output
    finally:
        served.kill()


# -- in this process, to see the server's side of a stream ------------------------------


class InProcess:
    """``create_app`` on uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InProcess:
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn to start")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive()

    @property
    def open_streams(self) -> int:
        streams: int = self.app.state.changes.streams
        return streams


def test_a_stream_ends_when_its_client_leaves(tmp_path: Path) -> None:
    with (
        InProcess(create_app(str(tmp_path / "alo.db"))) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):
        with http.stream("GET", "/v1/changes") as response:
            # Held: a dropped frames() generator would close the response at once.
            stream = frames(response)
            opening(stream)
            assert served.open_streams == 1
        wait_until(lambda: served.open_streams == 0, what="the stream to end")


def test_a_stream_ends_at_the_servers_wait_cap(tmp_path: Path) -> None:
    with (
        InProcess(create_app(str(tmp_path / "alo.db"), max_wait=0.5)) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
        http.stream("GET", "/v1/changes", params={"after": 0}) as response,
    ):
        rest = list(frames(response))
        assert rest[0].retry is not None
        assert served.open_streams == 0


def test_a_stream_of_one_alo_reads_it_once_per_interval_not_per_commit(tmp_path: Path) -> None:
    # Every commit in the log wakes every stream; one that follows one ALO reads that
    # ALO's events at most once per STREAM_READ_INTERVAL, however many commits come.
    mine = fresh()
    with (
        InProcess(create_app(str(tmp_path / "alo.db"))) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):
        assert http.post("/v1/alos", json={"id": mine}).status_code == 201
        watch = served.app.state.changes
        began = time.monotonic()
        with http.stream("GET", "/v1/changes", params={"after": 0, "id": mine}) as response:
            stream = frames(response)
            opening(stream)
            for _ in range(200):  # each its own commit, each waking the stream
                assert http.post("/v1/alos", json={"id": fresh()}).status_code == 201
            assert http.post(f"/v1/alos/{mine}/complete", json={"result": 1}).status_code == 200
            seen = changes(stream, 2)
            elapsed = time.monotonic() - began
            reads = watch.stream_reads
    assert [(c["id"], c["type"]) for c in seen] == [(mine, "Started"), (mine, "Completed")]
    assert seen[1]["status"] == "completed"
    # The stream's first read, one per interval of its life, and the one it may have
    # begun as the last interval ended.
    assert 1 <= reads <= elapsed / STREAM_READ_INTERVAL + 2, (reads, elapsed)


def test_the_feed_reads_infos_from_the_read_model_and_sends_the_engine_nothing(
    tmp_path: Path,
) -> None:
    # A change's info is the ALO's as committed, read beside the events; asking the
    # engine for it (get_info) made every watcher a second load on the engine.
    labelled, done, failed, cancelled = fresh(), fresh(), fresh(), fresh()
    with (
        InProcess(create_app(str(tmp_path / "alo.db"))) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):
        start = {"id": labelled, "metadata": {"team": "a"}, "result_urls": []}
        assert http.post("/v1/alos", json=start).status_code == 201
        for alo_id in (done, failed, cancelled):
            assert http.post("/v1/alos", json={"id": alo_id}).status_code == 201
        settle = {"result": {"n": 1}, "result_metadata": {"k": "v"}}
        assert http.post(f"/v1/alos/{done}/complete", json=settle).status_code == 200
        failure = {"message": "no", "metadata": {"type": "Refused"}}
        assert http.post(f"/v1/alos/{failed}/fail", json=failure).status_code == 200
        assert http.post(f"/v1/alos/{cancelled}/cancel", json={}).status_code == 200
        commands = served.app.state.service.system.stats.engine.commands
        before = dict(commands)
        with http.stream("GET", "/v1/changes", params={"after": 0}) as response:
            seen = changes(frames(response), 7)
        assert dict(commands) == before  # the engine was asked nothing
        assert [(c["id"], c["type"]) for c in seen] == [
            (labelled, "Started"),
            (done, "Started"),
            (failed, "Started"),
            (cancelled, "Started"),
            (done, "Completed"),
            (failed, "Failed"),
            (cancelled, "Cancelled"),
        ]
        for change in seen:
            assert change["info"] == http.get(f"/v1/alos/{change['id']}").json()
            assert change["status"] == change["info"]["status"]


def test_streams_at_one_position_share_one_read_of_the_log(tmp_path: Path) -> None:
    # The streams that have caught up are woken by the same commit and ask for the
    # same position at once: one read in flight serves them all.
    with (
        InProcess(create_app(str(tmp_path / "alo.db"))) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):
        body = {"starts": [{"id": fresh()} for _ in range(600)]}
        assert http.post("/v1/batch", json=body).status_code == 200
        watch = HeadWatch(served.app.state.service)

        async def asked_together(position: int, streams: int) -> list[Batch]:
            return await asyncio.gather(
                *[watch.read_after(position, position) for _ in range(streams)]
            )

        first = asyncio.run(asked_together(0, 3))
        assert watch.log_reads == 1
        assert first[0] == first[1] == first[2]
        assert (first[0].size, first[0].last) == (BATCH, BATCH)
        assert first[0].frames.count(b"event: change\n") == BATCH
        rest = asyncio.run(asked_together(BATCH, 2))
        assert watch.log_reads == 2
        assert rest[0] == rest[1] and (rest[0].size, rest[0].last) == (100, 600)
        # Done reads are not kept: a later stream reads afresh (its infos are new).
        asyncio.run(asked_together(BATCH, 1))
        assert watch.log_reads == 3

        async def woken_past_a_read_begun_before(position: int, woken_at: int) -> Batch:
            # A read still in flight that began before the head that woke this stream
            # may lack events up to it: the stream makes its own read.
            never: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
            watch._shared[position] = _Shared(-1, never)
            return await asyncio.wait_for(watch.read_after(position, woken_at), 10)

        assert asyncio.run(woken_past_a_read_begun_before(0, 5)).size == BATCH
        assert watch.log_reads == 4


def test_streams_read_together_each_see_every_change_once_in_order(tmp_path: Path) -> None:
    streams, writes = 3, 150
    seen: list[list[int]] = [[] for _ in range(streams)]
    with (
        InProcess(create_app(str(tmp_path / "alo.db"))) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as http,
    ):

        def follow(index: int) -> None:
            with (
                httpx.Client(base_url=served.base_url, timeout=READ_TIMEOUT) as own,
                own.stream("GET", "/v1/changes", params={"after": 0}) as response,
            ):
                seen[index] = [c["position"] for c in changes(frames(response), 2 * writes)]

        followers = [threading.Thread(target=follow, args=(k,)) for k in range(streams)]
        for follower in followers:
            follower.start()
        wait_until(lambda: served.open_streams == streams, what="the streams to open")
        for _ in range(writes):  # each its own commit: every stream woken each time
            alo_id = fresh()
            assert http.post("/v1/alos", json={"id": alo_id}).status_code == 201
            assert http.post(f"/v1/alos/{alo_id}/cancel", json={}).status_code == 200
        for follower in followers:
            follower.join(60)
            assert not follower.is_alive()
    assert seen == [list(range(1, 2 * writes + 1))] * streams
