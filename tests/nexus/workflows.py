"""The Temporal workflows of the Nexus tests: each calls an ALO through Nexus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow


@dataclass
class Call:
    """Which operation of which endpoint to call, with what input."""

    endpoint: str
    operation: str
    input: Any
    service: str = "alo"
    timeout: float = 60.0


@workflow.defn
class CallAlo:
    """Runs one Nexus operation to its end and returns its result."""

    @workflow.run
    async def run(self, call: Call) -> Any:
        client = workflow.create_nexus_client(service=call.service, endpoint=call.endpoint)
        return await client.execute_operation(
            call.operation,
            call.input,
            output_type=dict,
            schedule_to_close_timeout=timedelta(seconds=call.timeout),
        )


WORKFLOWS = [CallAlo]
