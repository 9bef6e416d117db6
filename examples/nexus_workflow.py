"""The Temporal side of the Nexus example: a workflow that charges a card through an ALO.

    python examples/nexus_workflow.py --endpoint alo --amount 42 [--address 127.0.0.1:7233]

It runs a worker for the ``PlaceOrder`` workflow, starts one, and prints its result.
The workflow calls the ``charge`` operation of the Nexus service ``alo`` at the
Temporal Nexus endpoint ``--endpoint``, whose target is ``alo serve``'s ``/nexus``
(see the README's "Temporal Nexus" section for the set-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import FailureError, NexusOperationError
from temporalio.worker import Worker

TASK_QUEUE = "nexus-example"


@workflow.defn
class PlaceOrder:
    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        payments = workflow.create_nexus_client(service="alo", endpoint=order["endpoint"])
        try:
            receipt = await payments.execute_operation(
                "charge",
                {"order": order["id"], "amount": order["amount"], "seconds": order["seconds"]},
                output_type=dict,
                schedule_to_close_timeout=timedelta(minutes=5),
            )
        except NexusOperationError as error:
            # The cause is the ALO's failure: its message is the handler's.
            cause = error.cause
            reason = cause.message if isinstance(cause, FailureError) else str(error)
            return {"order": order["id"], "status": "declined", "reason": reason}
        return {"order": order["id"], "status": "paid", "receipt": receipt}


async def place(address: str, endpoint: str, amount: int, seconds: float) -> dict[str, Any]:
    client = await Client.connect(address)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[PlaceOrder]):
        order: dict[str, Any] = {
            "id": f"order-{uuid.uuid4().hex[:8]}",
            "endpoint": endpoint,
            "amount": amount,
            "seconds": seconds,
        }
        result: dict[str, Any] = await client.execute_workflow(
            PlaceOrder.run, order, id=order["id"], task_queue=TASK_QUEUE
        )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1:7233", help="Temporal's gRPC address")
    parser.add_argument("--endpoint", default="alo", help="the Nexus endpoint's name")
    parser.add_argument("--amount", type=int, default=42, help="over 1000 is declined")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long the charge takes")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(place(args.address, args.endpoint, args.amount, args.seconds))))
    sys.stdout.flush()
    # The SDK's Rust threads may call into Python while the interpreter shuts down,
    # which aborts it after the work is done (temporalio/sdk-python issue 300): skip
    # the shutdown.
    os._exit(0)


if __name__ == "__main__":
    main()
