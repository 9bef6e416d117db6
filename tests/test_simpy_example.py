"""examples/simpy_shop.py: one seed, one history (outcomes and the log's event order)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from alo_actor.logtools import verify

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "simpy_shop.py"
CUSTOMERS = 40


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("simpy_shop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


shop: Any = _load()


@pytest.fixture(scope="module")
def seed_one() -> Any:
    return shop.run(1, CUSTOMERS)


def sequence(report: Any) -> list[tuple[str, str, int, float]]:
    """The log's events in order: type, stream id, version and (decoded) time."""
    return [
        (kind, stream, version, fields["at"]) for kind, stream, version, fields in report.events
    ]


def test_the_same_seed_gives_the_same_outcomes_and_event_sequence(seed_one: Any) -> None:
    again = shop.run(1, CUSTOMERS)
    assert again.orders == seed_one.orders
    assert again.payments == seed_one.payments
    assert (again.wasted, again.waits) == (seed_one.wasted, seed_one.waits)
    assert sequence(again) == sequence(seed_one)
    assert again.events == seed_one.events  # every decoded payload too
    assert again.summary() == seed_one.summary()


def test_another_seed_gives_another_sequence(seed_one: Any) -> None:
    other = shop.run(2, CUSTOMERS)
    assert sequence(other) != sequence(seed_one)
    assert other.summary() != seed_one.summary()


def test_the_simulation_exercises_every_outcome(seed_one: Any) -> None:
    report = seed_one
    assert set(report.orders.values()) == {"completed", "cancelled", "timed_out"}
    assert set(report.payments.values()) == {"completed", "failed"}
    assert report.payment_attempts > CUSTOMERS  # some payments were retried
    kinds = {kind for kind, *_ in report.events}
    assert {"AttemptFailed", "AttemptStarted", "Cancelled", "TimedOut", "Failed"} <= kinds
    starts = {stream: fields for kind, stream, _, fields in report.events if kind == "Started"}
    for kind, stream, _, fields in report.events:
        if kind == "TimedOut":  # deadlines fire at the deadline, on simulated time
            assert fields["at"] == starts[stream]["deadline"]


def test_the_log_keeps_every_invariant(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    report = shop.run(3, 20, str(path))
    assert report.events
    assert verify(path) == []


def test_it_runs_from_the_command_line(seed_one: Any) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--seed", "1", "--customers", str(CUSTOMERS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == seed_one.summary()
