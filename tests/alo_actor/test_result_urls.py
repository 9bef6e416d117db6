"""Outcomes POSTed to result URLs by a whole system (semantics §5), against a real
receiver on 127.0.0.1: signatures, retries on the clock, restarts and crashes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from alo_actor import AloSystem, InvalidArgument, ManualClock
from alo_actor.delivery import DeliveryOptions
from eventlog import EventLog
from tests.conftest import WAIT, wait_until
from tests.receiver import Receiver, Request, serving

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CHILD = Path(__file__).with_name("delivery_child.py")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    with serving(clock) as rec:
        yield rec


def event_types(system: AloSystem, alo_id: str) -> list[str]:
    return [e.type for e in system.log.read_stream(alo_id)]


def verified(request: Request) -> dict[str, object]:
    body: dict[str, object] = standardwebhooks.Webhook(SECRET).verify(request.body, request.headers)
    return body


def _opened(path: Path, clock: ManualClock, **options: Any) -> AloSystem:
    return AloSystem.open(str(path), clock=clock, **options)


def _constructed(path: Path, clock: ManualClock, **options: Any) -> AloSystem:
    log = EventLog.open(str(path))
    return AloSystem(log, clock=clock, **options)


@pytest.mark.parametrize("make", [_opened, _constructed], ids=["open", "AloSystem"])
def test_both_constructors_take_the_same_options_the_same_way(
    tmp_path: Path, clock: ManualClock, receiver: Receiver, make: Callable[..., AloSystem]
) -> None:
    options = {"allowed_callback_hosts": ["loopback"], "webhook_secret": SECRET}
    with make(tmp_path / "a.db", clock, **options) as system:
        # "loopback" stands for its names, whichever way the system was made.
        with pytest.raises(InvalidArgument, match="allow-list"):
            system.start("elsewhere", result_urls=["https://example.com/hook"])
        system.start("here", result_urls=[receiver.url("/hook")])
        system.complete("here", "done")
        receiver.wait_count("/hook", 1, "the POST")
    assert verified(receiver.to("/hook")[0])["result"] == "done"  # signed with the secret


def test_a_flaky_receiver_gets_exactly_one_accepted_signed_delivery(
    tmp_path: Path, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.plans["/hook"] = [500, 503, 429]
    with AloSystem.open(str(tmp_path / "a.db"), clock=clock, webhook_secret=SECRET) as system:
        system.start("order-1", result_urls=[receiver.url("/hook")], metadata={"k": "v"})
        system.complete("order-1", {"ok": True}, result_metadata={"m": "1"})
        receiver.wait_count("/hook", 1, "the first POST, sent at once")
        for n, step in enumerate((1.0, 2.0, 4.0), start=2):
            system.settle(timeout=WAIT)  # the refused POST's retry is armed on the clock
            clock.advance(step)
            receiver.wait_count("/hook", n, f"POST {n}")
        wait_until(lambda: event_types(system, "order-1")[-1] == "DeliveriesFinished")
        assert event_types(system, "order-1") == [
            "Started",
            "Completed",
            "DeliveriesDue",
            "Delivered",
            "DeliveriesFinished",
        ]
    posts = receiver.to("/hook")
    assert len(posts) == 4  # three refused, one accepted
    assert len({p.headers["webhook-id"] for p in posts}) == 1
    body = verified(posts[-1])
    assert body["id"] == "order-1"
    assert body["status"] == "completed"
    assert body["result"] == {"ok": True}
    assert body["failure"] is None
    assert body["metadata"] == {"k": "v"}
    assert body["result_metadata"] == {"m": "1"}
    assert posts[-1].headers["nexus-operation-token"] == "order-1"
    assert posts[-1].headers["nexus-operation-state"] == "succeeded"
    assert [p.clock_time for p in posts] == [1000.0, 1001.0, 1003.0, 1007.0]


def test_a_receiver_answering_400_is_given_up_and_recorded(
    tmp_path: Path, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.defaults["/bad"] = 400
    with AloSystem.open(str(tmp_path / "b.db"), clock=clock) as system:
        system.start("x", result_urls=[receiver.url("/bad"), receiver.url("/good")])
        system.fail("x", "card declined", type="PaymentError")
        wait_until(lambda: event_types(system, "x")[-1] == "DeliveriesFinished")
        records = [system.log.read_stream("x")[i].type for i in range(3, 5)]
        assert sorted(records) == ["Delivered", "DeliveryAbandoned"]
    assert receiver.count("/bad") == 1
    body = json.loads(receiver.to("/good")[0].body)
    assert body["status"] == "failed"
    assert body["failure"]["metadata"]["type"] == "PaymentError"
    assert receiver.to("/good")[0].headers["nexus-operation-state"] == "failed"


def test_a_restart_during_retries_resumes_them_and_never_resends_a_delivered_one(
    tmp_path: Path, clock: ManualClock, receiver: Receiver
) -> None:
    db = str(tmp_path / "c.db")
    receiver.plans["/hook"] = [503, 503]
    options = DeliveryOptions(initial_interval=10.0)
    with AloSystem.open(db, clock=clock, delivery=options) as first:
        first.start("r", result_urls=[receiver.url("/hook")])
        first.cancel("r", "changed my mind")
        receiver.wait_count("/hook", 1, "the first POST")
    # Closed while the retry waits for the clock: the delivery is still owed.
    with AloSystem.open(db, clock=clock, delivery=options) as second:
        receiver.wait_count("/hook", 2, "the resumed POST, sent at open")
        second.settle(timeout=WAIT)
        clock.advance(10.0)
        receiver.wait_count("/hook", 3, "the retry after the backoff")
        wait_until(lambda: event_types(second, "r")[-1] == "DeliveriesFinished")
        assert event_types(second, "r").count("Delivered") == 1
    with AloSystem.open(db, clock=clock, delivery=options):
        clock.advance(1000.0)
        threading.Event().wait(0.3)  # nothing is owed: nothing may be sent
    assert receiver.count("/hook") == 3
    assert json.loads(receiver.to("/hook")[-1].body)["status"] == "cancelled"


def test_a_crash_between_the_outcome_and_its_delivery_still_delivers_after_reopen(
    tmp_path: Path, clock: ManualClock, receiver: Receiver
) -> None:
    db = str(tmp_path / "d.db")
    hold = threading.Event()
    receiver.plans["/hook"] = [("block", hold, 503)] * 3
    child = subprocess.Popen(
        [sys.executable, str(CHILD), db, receiver.url("/hook"), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        acknowledged = [child.stdout.readline().strip() for _ in range(3)]
        assert acknowledged == ["completed k0", "completed k1", "completed k2"]
        receiver.wait_count("/hook", 3, "the child's POSTs (held unanswered)")
        child.send_signal(signal.SIGKILL)
        child.wait(WAIT)
    finally:
        if child.poll() is None:
            child.kill()
        hold.set()
    with AloSystem.open(db) as system:
        for alo_id in ("k0", "k1", "k2"):
            wait_until(lambda: event_types(system, alo_id)[-1] == "DeliveriesFinished")  # noqa: B023
            assert system.get_result(alo_id, timeout=WAIT) == {"n": int(alo_id[1:])}
    accepted = receiver.to("/hook")[3:]
    assert sorted(json.loads(p.body)["id"] for p in accepted) == ["k0", "k1", "k2"]
