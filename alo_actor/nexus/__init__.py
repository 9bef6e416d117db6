"""The Nexus RPC protocol spoken by ``alo serve``'s Nexus routes and by the completions
it sends to Nexus callbacks (pure: no I/O)."""

from __future__ import annotations

from alo_actor.nexus._protocol import (
    HANDLER_ERROR,
    HANDLER_ERROR_STATUS,
    LINK_KEY,
    OPERATION_ERROR,
    SERVICE_KEY,
    alo_id_of_token,
    callback_headers,
    failure_json,
    handler_error,
    http_date,
    operation_error,
    operation_state,
    operation_token,
    parse_duration,
    rfc3339_ms,
)

__all__ = [
    "HANDLER_ERROR",
    "HANDLER_ERROR_STATUS",
    "LINK_KEY",
    "OPERATION_ERROR",
    "SERVICE_KEY",
    "alo_id_of_token",
    "callback_headers",
    "failure_json",
    "handler_error",
    "http_date",
    "operation_error",
    "operation_state",
    "operation_token",
    "parse_duration",
    "rfc3339_ms",
]
