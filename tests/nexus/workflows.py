"""The Temporal workflow of the Nexus tests (run by ``tests/nexus/worker.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError, FailureError, NexusOperationError

from tests.nexus.support import Call


@workflow.defn
class CallAlo:
    """Runs one Nexus operation to its end: ``{"result": ...}``, or what the workflow
    caught, ``{"error": "NexusOperationError", "messages": [...]}`` (the message of the
    error and of each cause). A cancel of the workflow cancels the operation, and the
    workflow ends cancelled."""

    @workflow.run
    async def run(self, call: Call) -> dict[str, Any]:
        client = workflow.create_nexus_client(service=call.service, endpoint=call.endpoint)
        try:
            result = await client.execute_operation(
                call.operation,
                call.input,
                output_type=dict,
                schedule_to_close_timeout=timedelta(seconds=call.timeout),
            )
        except NexusOperationError as error:
            if isinstance(error.cause, CancelledError):
                raise  # the workflow was cancelled: it ends cancelled
            messages: list[str] = []
            cause: BaseException | None = error
            while cause is not None:
                messages.append(cause.message if isinstance(cause, FailureError) else str(cause))
                cause = cause.__cause__
            return {"error": type(error).__name__, "messages": messages}
        return {"result": result}


WORKFLOWS = [CallAlo]
