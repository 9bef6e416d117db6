"""Helpers of the Nexus tests: inputs of the ``gated`` operation, and an ALO's events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Longer than tests.conftest.WAIT: a Temporal round trip (start, callback, workflow
# task) under load.
WORKFLOW_WAIT = 30.0


@dataclass
class Call:
    """What the ``CallAlo`` workflow calls: its input (``tests/nexus/workflows.py``
    takes the same fields)."""

    endpoint: str
    operation: str
    input: Any
    service: str = "alo"
    timeout: float = 60.0


def gated(folder: Path, **extra: Any) -> dict[str, Any]:
    """An input of ``gated``: its markers go to ``folder`` under a key of its own."""
    return {"dir": str(folder), "key": uuid.uuid4().hex, "name": "Ada", **extra}


def release(folder: Path, value: dict[str, Any]) -> None:
    """Let the ``gated`` attempt of ``value`` finish."""
    (folder / f"{value['key']}.go").touch()


def marker(folder: Path, value: dict[str, Any], what: str) -> Path:
    """A marker of the ``gated`` attempt of ``value``: ``started.N`` or ``cancelled``."""
    return folder / f"{value['key']}.{what}"


def wait_for_file(path: Path, timeout: float = WORKFLOW_WAIT) -> None:
    """Until ``path`` exists (a marker a handler in ``alo serve`` leaves)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def event_types(http: httpx.Client, alo_id: str) -> list[str]:
    """The types of an ALO's events, from the native events route."""
    answer = http.get(f"/v1/alos/{alo_id}/events")
    assert answer.status_code == 200, answer.text
    return [event["type"] for event in answer.json()["events"]]
