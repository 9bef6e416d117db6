"""``ctx.cancelled``: ``if ctx.cancelled:`` means what it reads as (issue 18, point 7)."""

from __future__ import annotations

import threading
import time
from typing import Any

from alo_actor import AloSystem, CancelSignal, HandlerContext, Status
from tests.conftest import WAIT, wait_until


def test_the_signal_is_an_event_that_is_true_only_once_set() -> None:
    signal = CancelSignal()
    assert isinstance(signal, threading.Event)
    assert not signal and not signal.is_set()
    assert signal.wait(0) is False
    signal.set()
    assert signal and signal.is_set()
    assert signal.wait(0) is True


def test_a_slow_handler_that_checks_if_ctx_cancelled_runs_until_cancelled(
    system: AloSystem,
) -> None:
    first_check: list[bool] = []
    checking = threading.Event()
    stopped = threading.Event()

    def slow(ctx: HandlerContext, input: Any) -> str:
        assert isinstance(ctx.cancelled, CancelSignal)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if ctx.cancelled:
                stopped.set()
                return "stopped"
            if not first_check:
                first_check.append(bool(ctx.cancelled))
                checking.set()
            time.sleep(0.005)
        return "ran to the end"

    system.register("slow", slow)
    system.start("slow-1", "slow")
    assert checking.wait(WAIT)
    # The first `if ctx.cancelled:` of a running attempt was false: the handler went on.
    assert first_check == [False]
    assert system.get_info("slow-1").status is Status.RUNNING
    system.cancel("slow-1", reason="enough")
    assert stopped.wait(WAIT), "the handler never saw ctx.cancelled become true"
    wait_until(lambda: system.get_info("slow-1").status is Status.CANCELLED)
    assert system.get_info("slow-1").failure is not None


def test_a_context_made_by_hand_is_not_cancelled() -> None:
    ctx = HandlerContext(id="a", operation="op", attempt=1, metadata={}, deadline=None)
    assert not ctx.cancelled
