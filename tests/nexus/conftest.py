"""Fixtures of the Nexus tests: one real Temporal dev server for the session (it
fails the tests, never skips them, when it cannot start), ``alo serve`` processes
with the Nexus test operations, and Temporal endpoints pointing at them."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from tests.http.conftest import Served
from tests.nexus.support import WORKFLOW_WAIT, gated
from tests.nexus.temporal import TASK_QUEUE, DevServer, WorkerThread
from tests.nexus.workflows import Call, CallAlo

NEXUS_APP = "tests.nexus.nexus_app:register"
STARTED = EventType.EVENT_TYPE_NEXUS_OPERATION_STARTED

_endpoints = itertools.count(1)


class Temporal:
    """The dev server and the worker, and what the tests ask of them."""

    def __init__(self, server: DevServer, worker: WorkerThread) -> None:
        self.server = server
        self.worker = worker

    def endpoint_for(self, served: Served, secret: str | None = None) -> str:
        """A new Nexus endpoint whose target is ``served``'s ``/nexus``; its name.

        With ``secret``, the target URL carries it as user info, which Temporal sends
        as HTTP Basic credentials.
        """
        name = f"alo-{served.port}-{next(_endpoints)}"
        credentials = "" if secret is None else f"nexus:{quote(secret, safe='')}@"
        self.server.create_endpoint(name, f"http://{credentials}127.0.0.1:{served.port}/nexus")
        return name

    def start(self, call: Call) -> WorkflowHandle[Any, Any]:
        return self.worker.run(
            self.worker.client.start_workflow(
                CallAlo.run,
                call,
                id=f"call-{uuid.uuid4()}",
                task_queue=TASK_QUEUE,
                execution_timeout=timedelta(seconds=call.timeout + 30),
            )
        )

    def start_gated(
        self, served: Served, folder: Path, **extra: Any
    ) -> tuple[WorkflowHandle[Any, Any], dict[str, Any]]:
        """A workflow calling ``gated`` on ``served`` (through a new endpoint), once
        Temporal has recorded the operation as started (answered 201); and the input."""
        value = gated(folder, **extra)
        handle = self.start(Call(self.endpoint_for(served), "gated", value))
        self.wait_for_event(handle, STARTED)
        return handle, value

    def result(self, handle: WorkflowHandle[Any, Any]) -> Any:
        return self.worker.run(handle.result(), timeout=WORKFLOW_WAIT)

    def event_types(self, handle: WorkflowHandle[Any, Any]) -> list[int]:
        async def fetch() -> list[int]:
            return [event.event_type async for event in handle.fetch_history_events()]

        return self.worker.run(fetch())

    def wait_for_event(self, handle: WorkflowHandle[Any, Any], event_type: int) -> None:
        """Until the workflow's history has an event of ``event_type``."""
        deadline = time.monotonic() + WORKFLOW_WAIT
        while event_type not in self.event_types(handle):
            if time.monotonic() >= deadline:
                name = EventType.Name(event_type)  # type: ignore[arg-type]
                raise AssertionError(f"no {name} in the workflow's history")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Temporal]:
    server = DevServer(tmp_path_factory.mktemp("temporal")).start()
    try:
        worker = WorkerThread(server.address)
        try:
            yield Temporal(server, worker)
        finally:
            worker.close()
    finally:
        server.stop()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Starts ``alo serve`` with the Nexus test operations (and ``args``); stopped at
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
