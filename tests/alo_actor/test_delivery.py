"""Result-URL delivery (semantics §5) against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from alo_actor._clock import ManualClock
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._timers import Timers
from alo_actor.delivery import (
    Delivery,
    DeliveryOptions,
    Dispatcher,
    outcome_delivery,
    webhook_id_for,
)
from tests.conftest import WAIT, wait_until
from tests.receiver import Receiver, Reply, Request, serving

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = 1000.0  # the manual clock's start; steps below are powers of two, so sums are exact


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    with serving(clock) as rec:
        yield rec


@pytest.fixture
def timers(clock: ManualClock) -> Iterator[Timers]:
    t = Timers(clock)
    try:
        yield t
    finally:
        t.close()


Final = tuple[Delivery, bool, str]


@dataclass
class Harness:
    clock: ManualClock
    timers: Timers
    finals: list[Final] = field(default_factory=list)
    dispatchers: list[Dispatcher] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def dispatcher(self, **options: Any) -> Dispatcher:
        opts = DeliveryOptions(**{"secret": SECRET, **options})
        d = Dispatcher(self.clock, self.timers, self._on_final, opts)
        self.dispatchers.append(d)
        return d

    def _on_final(self, delivery: Delivery, delivered: bool, reason: str) -> None:
        with self.lock:
            self.finals.append((delivery, delivered, reason))

    def got(self) -> list[Final]:
        with self.lock:
            return list(self.finals)

    def wait_final(self, n: int = 1) -> list[Final]:
        wait_until(lambda: len(self.got()) >= n, what=f"{n} final outcome(s)")
        return self.got()

    def wait_retry_armed(self) -> None:
        wait_until(lambda: len(self.timers) == 1, what="a retry timer")


@pytest.fixture
def harness(clock: ManualClock, timers: Timers) -> Iterator[Harness]:
    h = Harness(clock, timers)
    try:
        yield h
    finally:
        for d in h.dispatchers:
            d.close()


def on_loop(dispatcher: Dispatcher, read: Callable[[], Any]) -> Any:
    """``read()`` run on the dispatcher's own thread, after everything already handed
    to it (each ``dispatch`` queues its work there first): a look at its state that
    no dispatch made before it can still change."""
    answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
    dispatcher._loop.call_soon_threadsafe(lambda: answer.set_result(read()))
    return answer.result(WAIT)


def info_for(status: Status, alo_id: str = "alo-1", **changes: Any) -> AloInfo:
    failure = None
    if status is Status.FAILED:
        failure = Failure("boom", "ValueError", {"code": 7}, "Traceback ...")
    elif status is Status.CANCELLED:
        failure = Failure("no longer wanted", "Cancelled")
    elif status is Status.TIMED_OUT:
        failure = Failure("deadline passed", "TimedOut")
    fields: dict[str, Any] = {
        "id": alo_id,
        "operation": "greeting",
        "status": status,
        "metadata": {"tenant": "t1"},
        "result_urls": [],
        "attempt": 1,
        "created_at": START - 60.25,
        "settled_at": START,
        "deadline": None,
        "failure": failure,
        "result_metadata": {"lang": "en"} if status is Status.COMPLETED else None,
    }
    fields.update(changes)
    return AloInfo(**fields)


def completed(url: str, alo_id: str = "alo-1", settled_at: float = START) -> Delivery:
    info = info_for(Status.COMPLETED, alo_id, settled_at=settled_at)
    return outcome_delivery(info, {"greeting": "hello"}, url)


def verify(request: Request) -> Any:
    return standardwebhooks.Webhook(SECRET).verify(request.body, request.headers)


# -- the body and the headers --


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("status", "nexus_state"),
    [
        (Status.COMPLETED, "succeeded"),
        (Status.FAILED, "failed"),
        (Status.CANCELLED, "canceled"),
        (Status.TIMED_OUT, "failed"),
    ],
)
def test_body_and_nexus_headers_name_the_outcome(
    harness: Harness, receiver: Receiver, status: Status, nexus_state: str
) -> None:
    info = info_for(status)
    delivery = outcome_delivery(info, {"greeting": "hello", "raw": b"\x00\x01"}, receiver.url("/"))
    harness.dispatcher().dispatch(delivery)
    assert harness.wait_final() == [(delivery, True, "HTTP 200")]

    [request] = receiver.to("/")
    body = json.loads(request.body)
    assert verify(request) == body
    expected_failure = None
    if info.failure is not None:
        f = info.failure
        # The HTTP API's Failure shape (what GET /v1/alos/{id} shows as "failure").
        expected_failure = {
            "message": f.message,
            "metadata": {"type": f.type},
            "details": f.details,
        }
        if f.stack_trace is not None:
            expected_failure["stackTrace"] = f.stack_trace
    assert body == {
        "id": "alo-1",
        "status": status.value,
        "result": {"greeting": "hello", "raw": "AAE="} if status is Status.COMPLETED else None,
        "failure": expected_failure,
        "result_metadata": {"lang": "en"} if status is Status.COMPLETED else None,
        "metadata": {"tenant": "t1"},
        "created_at": "1970-01-01T00:15:39.750000Z",
        "settled_at": "1970-01-01T00:16:40Z",
    }
    assert datetime.fromisoformat(body["created_at"]).timestamp() == info.created_at
    h = request.headers
    assert h["content-type"] == "application/json"
    assert h["nexus-operation-token"] == "alo-1"
    assert h["nexus-operation-state"] == nexus_state
    assert h["nexus-operation-start-time"] == rfc3339(info.created_at)
    assert h["nexus-operation-close-time"] == rfc3339(START)
    assert h["webhook-id"] == webhook_id_for("alo-1", receiver.url("/"))
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60  # real time, not the clock's


def test_outcome_delivery_refuses_an_alo_without_outcome() -> None:
    with pytest.raises(ValueError, match="no outcome"):
        outcome_delivery(info_for(Status.RUNNING, settled_at=None), None, "http://127.0.0.1:1/")


def test_webhook_id_is_stable_per_alo_and_url() -> None:
    a = webhook_id_for("alo-1", "http://h/a")
    assert a == webhook_id_for("alo-1", "http://h/a")
    assert a.startswith("msg_")
    assert (
        len({a, webhook_id_for("alo-2", "http://h/a"), webhook_id_for("alo-1", "http://h/b")}) == 3
    )


def test_without_a_secret_no_signature_headers(harness: Harness, receiver: Receiver) -> None:
    harness.dispatcher(secret=None).dispatch(completed(receiver.url("/")))
    harness.wait_final()
    [request] = receiver.to("/")
    assert not [name for name in request.headers if name.startswith("webhook-")]


def test_an_id_beyond_ascii_goes_out_as_utf8(harness: Harness, receiver: Receiver) -> None:
    delivery = completed(receiver.url("/"), alo_id="größe-✓")
    harness.dispatcher().dispatch(delivery)
    assert harness.wait_final()[0][1] is True
    [request] = receiver.to("/")
    # http.server decodes header bytes as latin-1
    assert request.headers["nexus-operation-token"].encode("latin-1").decode() == "größe-✓"
    assert verify(request)["id"] == "größe-✓"


# -- retries --


@pytest.mark.parametrize("failure", [500, 503, 429, 408, "close"])
def test_a_flaky_receiver_gets_exactly_one_accepted_delivery(
    harness: Harness, receiver: Receiver, failure: Reply
) -> None:
    failures = 3
    receiver.plans["/flaky"] = [failure] * failures
    dispatcher = harness.dispatcher()
    delivery = completed(receiver.url("/flaky"))
    dispatcher.dispatch(delivery)
    assert dispatcher.pending() == 1
    receiver.wait_count("/flaky", 1, "the first POST")
    for n in range(failures):
        harness.wait_retry_armed()
        assert harness.got() == []
        harness.clock.advance(2.0**n)
        receiver.wait_count("/flaky", n + 2, f"retry {n + 1}")
    final = harness.wait_final()
    assert final == [(delivery, True, "HTTP 200")]
    assert dispatcher.pending() == 0
    requests = receiver.to("/flaky")
    assert len(requests) == failures + 1
    assert [r.clock_time - START for r in requests] == [0, 1, 3, 7]
    assert {r.headers["webhook-id"] for r in requests} == {delivery.webhook_id}
    assert all(verify(r)["id"] == "alo-1" for r in requests)
    assert {r.body for r in requests} == {delivery.body}
    assert len(harness.timers) == 0


def test_backoff_is_exponential_and_capped(harness: Harness, receiver: Receiver) -> None:
    receiver.defaults["/down"] = 503
    harness.dispatcher(maximum_interval=8.0).dispatch(completed(receiver.url("/down")))
    receiver.wait_count("/down", 1, "the first POST")
    early = 1 / 64
    for n, backoff in enumerate([1, 2, 4, 8, 8, 8]):
        harness.wait_retry_armed()
        harness.clock.advance(backoff - early)
        # advance() fires what fell due before it returns: the retry is still armed.
        assert len(harness.timers) == 1, "a retry went out before its backoff ran out"
        assert receiver.count("/down") == n + 1
        harness.clock.advance(early)
        receiver.wait_count("/down", n + 2, f"retry {n + 1}")
    times = [r.clock_time - START for r in receiver.to("/down")]
    assert times == [0, 1, 3, 7, 15, 23, 31]
    assert harness.got() == []


@pytest.mark.parametrize("status", [400, 404, 410, 307])
def test_a_client_error_gives_up_at_once(
    harness: Harness, receiver: Receiver, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.defaults["/no"] = status
    delivery = completed(receiver.url("/no"))
    with caplog.at_level(logging.WARNING, logger="alo_actor.delivery"):
        dispatcher = harness.dispatcher()
        dispatcher.dispatch(delivery)
        [(final, delivered, reason)] = harness.wait_final()
    assert (final, delivered) == (delivery, False)
    assert f"HTTP {status}" in reason
    assert receiver.count("/no") == 1
    assert receiver.count("/elsewhere") == 0  # redirects are not followed
    assert len(harness.timers) == 0
    assert dispatcher.pending() == 0
    assert any(
        r.name == "alo_actor.delivery" and f"HTTP {status}" in r.getMessage()
        for r in caplog.records
    )


def test_past_the_give_up_age_the_delivery_is_abandoned(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.defaults["/down"] = 503
    delivery = completed(receiver.url("/down"))
    dispatcher = harness.dispatcher(give_up_after=10.0)
    dispatcher.dispatch(delivery)
    receiver.wait_count("/down", 1, "the first POST")
    for backoff in (1, 2, 4):  # attempts at 0, 1, 3, 7; the next (15) is past 10
        harness.wait_retry_armed()
        assert harness.got() == []
        harness.clock.advance(backoff)
    [(final, delivered, reason)] = harness.wait_final()
    assert (final, delivered) == (delivery, False)
    assert "HTTP 503" in reason
    assert "give-up age" in reason
    assert receiver.count("/down") == 4
    assert len(harness.timers) == 0
    assert dispatcher.pending() == 0


def test_a_delivery_already_past_the_give_up_age_is_abandoned_unsent(
    harness: Harness, receiver: Receiver
) -> None:
    delivery = completed(receiver.url("/late"), settled_at=START - 11.0)
    harness.dispatcher(give_up_after=10.0).dispatch(delivery)
    [(final, delivered, reason)] = harness.wait_final()
    assert (final, delivered) == (delivery, False)
    assert "give-up age" in reason
    assert receiver.count("/late") == 0


def test_an_unreachable_receiver_is_retried(harness: Harness, receiver: Receiver) -> None:
    url = receiver.url("/x").replace(str(receiver.port), "1")  # nothing listens on port 1
    harness.dispatcher(give_up_after=0.5).dispatch(completed(url))
    [(_, delivered, reason)] = harness.wait_final()
    assert delivered is False
    assert "ConnectError" in reason


def test_a_request_that_outlives_its_timeout_is_retried(
    harness: Harness, receiver: Receiver, release: threading.Event
) -> None:
    receiver.plans["/slow"] = [("block", release, 200)]
    delivery = completed(receiver.url("/slow"))
    harness.dispatcher(request_timeout=0.3).dispatch(delivery)
    # The receiver holds the first POST until the test ends: a retry armed meanwhile
    # was armed because the request timed out.
    harness.wait_retry_armed()
    harness.clock.advance(1)
    assert harness.wait_final() == [(delivery, True, "HTTP 200")]
    assert receiver.count("/slow") == 2


def test_a_huge_response_body_is_not_read_whole(harness: Harness, receiver: Receiver) -> None:
    receiver.plans["/huge"] = [("huge", 200)]
    delivery = completed(receiver.url("/huge"))
    harness.dispatcher().dispatch(delivery)
    assert harness.wait_final() == [(delivery, True, "HTTP 200")]
    # The receiver stops once the dispatcher hangs up (or once it has sent 1 GiB).
    assert receiver.huge_done.wait(WAIT)
    assert receiver.huge_bytes_sent < 256 << 20


# -- isolation, concurrency, closing --


def test_a_slow_receiver_does_not_delay_a_fast_one(
    harness: Harness, receiver: Receiver, release: threading.Event
) -> None:
    # The slow receiver answers only when released: whatever comes first came
    # while it still held its POST.
    receiver.defaults["/slow"] = ("block", release, 200)
    slow, fast = completed(receiver.url("/slow")), completed(receiver.url("/fast"))
    dispatcher = harness.dispatcher()
    dispatcher.dispatch(slow)
    receiver.wait_count("/slow", 1, "the slow POST")
    dispatcher.dispatch(fast)  # returns at once: a dispatch() that blocked would hang here
    [first] = harness.wait_final()
    assert first == (fast, True, "HTTP 200")
    assert dispatcher.pending() == 1
    release.set()
    assert harness.wait_final(2)[1] == (slow, True, "HTTP 200")


def test_no_more_than_max_concurrency_posts_at_once_and_half_to_one_origin(
    clock: ManualClock, harness: Harness, receiver: Receiver
) -> None:
    release = threading.Event()
    dispatcher = harness.dispatcher(max_concurrency=4)
    with serving(clock) as other:
        deliveries = []
        for target in (receiver, other):
            target.defaults["/held"] = ("block", release, 200)
            deliveries += [completed(target.url("/held"), alo_id=f"alo-{i}") for i in range(5)]
        try:
            for d in deliveries:
                dispatcher.dispatch(d)
            receiver.wait_count("/held", 2, "two POSTs in flight to one receiver")
            other.wait_count("/held", 2, "two POSTs in flight to the other")
            # Every dispatch has been taken in by now, and the POSTs it started are
            # held: what runs now is all that runs until the release.
            assert on_loop(dispatcher, lambda: sorted(dispatcher._busy.values())) == [2, 2]
            assert receiver.count("/held") == other.count("/held") == 2
            assert dispatcher.pending() == 10
        finally:
            release.set()
        finals = harness.wait_final(10)
    assert sorted(f[0].alo_id for f in finals) == sorted(d.alo_id for d in deliveries)
    assert all(ok for _, ok, _ in finals)


def test_a_receiver_owed_many_deliveries_does_not_hold_up_another(
    clock: ManualClock, harness: Harness, receiver: Receiver
) -> None:
    release = threading.Event()
    receiver.defaults["/held"] = ("block", release, 200)
    dispatcher = harness.dispatcher(max_concurrency=4)
    try:
        for i in range(50):
            dispatcher.dispatch(completed(receiver.url("/held"), alo_id=f"held-{i}"))
        receiver.wait_count("/held", 2, "the held POSTs")
        with serving(clock) as other:
            fast = completed(other.url("/fast"))
            dispatcher.dispatch(fast)
            # Delivered while the held ones still wait for their release.
            assert harness.wait_final() == [(fast, True, "HTTP 200")]
        # Its share, half of max_concurrency, and no more, started or about to be.
        assert on_loop(dispatcher, lambda: list(dispatcher._busy.values())) == [2]
        assert receiver.count("/held") == 2
    finally:
        release.set()
    harness.wait_final(51)


def test_kept_alive_connections_are_reused_per_origin(
    clock: ManualClock, harness: Harness, receiver: Receiver
) -> None:
    dispatcher = harness.dispatcher(max_concurrency=2)
    with serving(clock) as other:
        for i in range(6):
            target = receiver if i % 2 == 0 else other
            dispatcher.dispatch(completed(target.url("/"), alo_id=f"alo-{i}"))
            harness.wait_final(i + 1)
        assert len({r.client_port for r in receiver.to("/")}) == 1
        assert len({r.client_port for r in other.to("/")}) == 1
        assert len(receiver.to("/")) == len(other.to("/")) == 3
    assert all(ok for _, ok, _ in harness.got())


def test_a_connection_the_receiver_closed_is_not_reused(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.plans["/"] = [("hangup", 200)]
    dispatcher = harness.dispatcher(max_concurrency=1)
    dispatcher.dispatch(completed(receiver.url("/"), alo_id="first"))
    harness.wait_final()
    # The receiver has closed its end (on loopback the FIN is there once it has).
    wait_until(lambda: receiver.closed == 1, what="the receiver to hang up")
    dispatcher.dispatch(completed(receiver.url("/"), alo_id="second"))
    finals = harness.wait_final(2)
    assert [(f[0].alo_id, f[1]) for f in finals] == [("first", True), ("second", True)]
    first, second = receiver.to("/")
    assert first.client_port != second.client_port
    assert len(harness.timers) == 0  # no retry was needed


def test_close_with_deliveries_pending_returns_promptly_and_reports_nothing(
    harness: Harness, receiver: Receiver, release: threading.Event
) -> None:
    receiver.defaults["/slow"] = ("block", release, 200)
    receiver.defaults["/down"] = 503
    dispatcher = harness.dispatcher()
    for i in range(3):
        dispatcher.dispatch(completed(receiver.url("/slow"), alo_id=f"slow-{i}"))
    dispatcher.dispatch(completed(receiver.url("/down")))
    receiver.wait_count("/slow", 3, "the slow POSTs")
    harness.wait_retry_armed()
    assert dispatcher.pending() == 4

    dispatcher.close()  # returns while the receiver still holds the slow POSTs
    # Its thread is gone, and only that thread reports: nothing can come later.
    assert not dispatcher._thread.is_alive()
    dispatcher.close()  # idempotent
    harness.clock.advance(1)  # the retry falls due after close
    dispatcher.dispatch(completed(receiver.url("/fast")))
    release.set()  # the slow receiver answers now, to nobody
    assert harness.got() == []
    assert receiver.count("/down") == 1
    assert receiver.count("/fast") == 0


def test_a_failing_on_final_does_not_stop_the_dispatcher(
    clock: ManualClock, timers: Timers, receiver: Receiver
) -> None:
    calls: list[str] = []

    def on_final(delivery: Delivery, delivered: bool, reason: str) -> None:
        calls.append(delivery.alo_id)
        raise RuntimeError("the consumer broke")

    dispatcher = Dispatcher(clock, timers, on_final)
    try:
        dispatcher.dispatch(completed(receiver.url("/"), alo_id="a"))
        wait_until(lambda: calls == ["a"])
        dispatcher.dispatch(completed(receiver.url("/"), alo_id="b"))
        wait_until(lambda: calls == ["a", "b"])
    finally:
        dispatcher.close()


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        DeliveryOptions(max_concurrency=0)
    with pytest.raises(ValueError):
        DeliveryOptions(initial_interval=0)
    with pytest.raises(Exception):  # noqa: B017 - the library's own error
        DeliveryOptions(secret="whsec_")


def on_any_thread(fn: Callable[[], None], n: int) -> None:
    threads = [threading.Thread(target=fn) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)


def test_dispatch_from_many_threads(harness: Harness, receiver: Receiver) -> None:
    dispatcher = harness.dispatcher()
    counter = iter(range(1000))
    lock = threading.Lock()

    def send_some() -> None:
        for _ in range(25):
            with lock:
                i = next(counter)
            dispatcher.dispatch(completed(receiver.url("/many"), alo_id=f"alo-{i}"))

    on_any_thread(send_some, 8)
    finals = harness.wait_final(200)
    assert len({f[0].alo_id for f in finals}) == 200
    assert all(ok for _, ok, _ in finals)
    assert dispatcher.pending() == 0


# -- TLS --


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (made with the openssl tool)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_receiver(clock: ManualClock, certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with serving(clock, context) as rec:
        rec.host = "localhost"
        yield rec


def test_https_to_a_trusted_receiver(
    harness: Harness,
    tls_receiver: Receiver,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # read when the dispatcher starts
    delivery = completed(tls_receiver.url("/tls"))
    harness.dispatcher().dispatch(delivery)
    assert harness.wait_final() == [(delivery, True, "HTTP 200")]
    assert verify(tls_receiver.to("/tls")[0])["id"] == "alo-1"


def test_an_untrusted_certificate_is_a_connection_error(
    harness: Harness, tls_receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    harness.dispatcher(give_up_after=0.5).dispatch(completed(tls_receiver.url("/tls")))
    [(_, delivered, reason)] = harness.wait_final()  # retried (past the give-up age here)
    assert delivered is False
    assert "ConnectError" in reason
    assert "CERTIFICATE_VERIFY_FAILED" in reason
    assert "give-up age" in reason
    assert tls_receiver.count("/tls") == 0


def test_many_receivers_at_once_all_get_theirs(
    clock: ManualClock, harness: Harness, receiver: Receiver
) -> None:
    dispatcher = harness.dispatcher(max_concurrency=4)
    with serving(clock) as second, serving(clock) as third:
        targets = [receiver, second, third]
        for i in range(150):
            dispatcher.dispatch(completed(targets[i % 3].url("/"), alo_id=f"alo-{i}"))
        finals = harness.wait_final(150)
        assert [t.count("/") for t in targets] == [50, 50, 50]
    assert len({f[0].alo_id for f in finals}) == 150
    assert all(ok for _, ok, _ in finals)
    assert dispatcher.pending() == 0
    # every connection was handed back, nothing waits (white-box: the scheduler's books)
    wait_until(lambda: len(dispatcher._free) == 4)
    assert not dispatcher._busy
    assert not dispatcher._waiting
    assert not dispatcher._turns


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://[::1/x", "http:///x"])
def test_a_url_that_cannot_be_posted_to_is_given_up_at_once(harness: Harness, url: str) -> None:
    delivery = completed(url)
    harness.dispatcher().dispatch(delivery)
    [(final, delivered, reason)] = harness.wait_final()
    assert (final, delivered) == (delivery, False)
    assert reason
    assert len(harness.timers) == 0
