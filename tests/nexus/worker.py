"""A Temporal worker for the Nexus tests' workflows, as a process of its own.

    python -m tests.nexus.worker ADDRESS TASK_QUEUE

It prints ``ready`` once polling and runs until its standard input closes. The tests
keep the Temporal SDK out of the pytest process: its Rust runtime's threads may call
into Python while an interpreter shuts down, which aborts it (temporalio/sdk-python
issue 300), and an abort at the end of a passing test run would fail the run.
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.nexus.workflows import WORKFLOWS


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    # Unsandboxed: the workflow is deterministic, and the sandbox would re-import the
    # test modules for every run.
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    address, task_queue = sys.argv[1:3]
    asyncio.run(serve(address, task_queue))
    sys.stdout.flush()
    os._exit(0)  # no interpreter shutdown for the SDK's threads to abort (see above)


if __name__ == "__main__":
    main()
