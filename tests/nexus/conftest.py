"""Fixtures of the Nexus tests: one real Temporal dev server for the session (it
fails the tests, never skips them, when it cannot start), ``alo serve`` processes
with the Nexus test operations, and Temporal endpoints pointing at them."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.http.conftest import Served
from tests.nexus.support import WORKFLOW_WAIT, Call, gated
from tests.nexus.temporal import TASK_QUEUE, DevServer

NEXUS_APP = "tests.nexus.nexus_app:register"
STARTED = "EVENT_TYPE_NEXUS_OPERATION_STARTED"
COMPLETED = "EVENT_TYPE_NEXUS_OPERATION_COMPLETED"

_endpoints = itertools.count(1)


class Temporal:
    """The dev server, and what the tests ask of it (through the ``temporal`` command)."""

    def __init__(self, server: DevServer) -> None:
        self.server = server

    def endpoint_for(self, served: Served, secret: str | None = None) -> str:
        """A new Nexus endpoint whose target is ``served``'s ``/nexus``; its name.

        With ``secret``, the target URL carries it as user info, which Temporal sends
        as HTTP Basic credentials.
        """
        name = f"alo-{served.port}-{next(_endpoints)}"
        credentials = "" if secret is None else f"nexus:{quote(secret, safe='')}@"
        self.server.create_endpoint(name, f"http://{credentials}127.0.0.1:{served.port}/nexus")
        return name

    def start(self, call: Call) -> str:
        """Start the ``CallAlo`` workflow; its id."""
        workflow_id = f"call-{uuid.uuid4()}"
        self.server.command(
            "workflow",
            "start",
            "--type",
            "CallAlo",
            "--task-queue",
            TASK_QUEUE,
            "--workflow-id",
            workflow_id,
            "--execution-timeout",
            f"{call.timeout + 30:g}s",
            "--input",
            json.dumps(dataclasses.asdict(call)),
        )
        return workflow_id

    def start_gated(self, served: Served, folder: Path, **extra: Any) -> tuple[str, dict[str, Any]]:
        """A workflow calling ``gated`` on ``served`` (through a new endpoint), once
        Temporal has recorded the operation as started (answered 201); and the input."""
        value = gated(folder, **extra)
        workflow_id = self.start(Call(self.endpoint_for(served), "gated", value))
        self.wait_for_event(workflow_id, STARTED)
        return workflow_id, value

    def outcome(self, workflow_id: str) -> dict[str, Any]:
        """Waits for the workflow to close: ``{"status", "result"}`` (or its failure)."""
        answer: dict[str, Any] = self.server.command(
            "workflow", "result", "--workflow-id", workflow_id, timeout=WORKFLOW_WAIT, check=False
        )
        return answer

    def result(self, workflow_id: str) -> Any:
        """What the workflow returned (it must complete)."""
        outcome = self.outcome(workflow_id)
        assert outcome["status"] == "COMPLETED", outcome
        return outcome["result"]

    def cancel(self, workflow_id: str) -> None:
        self.server.command("workflow", "cancel", "--workflow-id", workflow_id)

    def event_types(self, workflow_id: str) -> list[str]:
        history = self.server.command("workflow", "show", "--workflow-id", workflow_id)
        return [event["eventType"] for event in history["events"]]

    def wait_for_event(self, workflow_id: str, event_type: str) -> None:
        """Until the workflow's history has an event of ``event_type``."""
        deadline = time.monotonic() + WORKFLOW_WAIT
        while event_type not in self.event_types(workflow_id):
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {event_type} in the workflow's history")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Temporal]:
    server = DevServer(tmp_path_factory.mktemp("temporal")).start()
    try:
        yield Temporal(server)
    finally:
        server.stop()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Starts ``alo serve`` with the Nexus test operations (and ``args``); killed at
    teardown."""
    started: list[Served] = []

    def start(args: Sequence[str] = (), name: str = "alo") -> Served:
        served = Served(tmp_path / f"{name}.db", ["--app", NEXUS_APP, *args])
        started.append(served)
        return served.start()

    try:
        yield start
    finally:
        for served in started:
            served.kill()
