"""``AloClient``: AloSystem's verbs against an ``alo serve``, over HTTP (httpx)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from alo_actor._model import AloInfo, Failure
from alo_actor.client import _protocol as protocol
from alo_actor.client._protocol import DEFAULT_URL, Call, StatusFilter, TimeBound
from alo_actor.readmodel import AloPage


class AloClient:
    """The HTTP API with AloSystem's verbs, return types and exceptions.

    ``AloClient("http://127.0.0.1:8080", token=...)`` talks to one server; code
    written against ``AloSystem`` moves to it by changing the line that opens it.
    What differs: ``register`` and ``subscribe`` stay with the server (result URLs
    are the remote way to be told); results travel as JSON, so bytes come back as
    base64 text and tuples as lists; a ``deadline`` is sent as the timeout until it,
    on this machine's clock. Besides AloSystem's errors, a call raises
    ``ServiceError`` for a 401 or a 5xx, and ``httpx.TransportError`` when the server
    cannot be reached. ``timeout`` bounds each request (a long poll gets its wait
    on top); ``transport`` is httpx's, for tests.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=url, headers=protocol.auth_headers(token), timeout=timeout, transport=transport
        )

    def _send(self, call: Call) -> httpx.Response:
        return self._http.request(
            call.method,
            call.path,
            params=call.params,
            json=call.body,
            timeout=httpx.USE_CLIENT_DEFAULT if call.timeout is None else call.timeout,
        )

    def start(
        self,
        id: str,
        operation: str | None = None,
        input: Any = None,
        *,
        metadata: Mapping[str, str] | None = None,
        result_urls: list[str] | None = None,
        timeout: float | str | None = None,
        deadline: float | None = None,
    ) -> AloInfo:
        """Create the ALO, or return it unchanged if this very start was made before
        (``info.created`` says which). ``timeout`` also takes ``"30s"``, ``"5m"``."""
        call = protocol.start_call(id, operation, input, metadata, result_urls, timeout, deadline)
        return protocol.read_start(self._send(call))

    def get_info(self, id: str) -> AloInfo:
        return protocol.read_info(self._send(protocol.info_call(id)))

    def get_result(self, id: str, timeout: float | None = None) -> Any:
        """The result, waiting up to ``timeout`` s (None: for ever) by long polls.

        Raises OperationFailed / OperationCancelled / OperationTimedOut for those
        outcomes and the built-in TimeoutError if it does not settle in time.
        """
        poll = protocol.ResultPoll(id, timeout)
        while True:
            settled, result = poll.read(self._send(poll.next_call()))
            if settled:
                return result

    def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
        return protocol.read_info(self._send(protocol.complete_call(id, result, result_metadata)))

    def fail(
        self,
        id: str,
        message: str | Failure,
        *,
        type: str | None = None,
        details: Any = None,
        stack_trace: str | None = None,
    ) -> AloInfo:
        call = protocol.fail_call(id, message, type, details, stack_trace)
        return protocol.read_info(self._send(call))

    def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        return protocol.read_info(self._send(protocol.cancel_call(id, reason)))

    def pause(self, id: str) -> AloInfo:
        return protocol.read_info(self._send(protocol.pause_call(id)))

    def resume(self, id: str) -> AloInfo:
        return protocol.read_info(self._send(protocol.resume_call(id)))

    def get_events(self, id: str) -> list[dict[str, Any]]:
        """The ALO's stored events, oldest first, as the API shows them."""
        return protocol.read_events(self._send(protocol.events_call(id)))

    def iterate(
        self,
        status: StatusFilter = None,
        *,
        operation: str | None = None,
        metadata: Mapping[str, str] | None = None,
        created_after: TimeBound = None,
        created_before: TimeBound = None,
        page_size: int = 100,
    ) -> Iterator[AloInfo]:
        """Every ALO that passes the filters, in creation order, a page at a time."""
        cursor: str | None = None
        while True:
            page = self.list(
                status,
                operation=operation,
                metadata=metadata,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
                cursor=cursor,
            )
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    def close(self) -> None:
        """Close the connections (idempotent)."""
        self._http.close()

    def __enter__(self) -> AloClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Last: below it, mypy would take `list` in annotations for this method.
    def list(
        self,
        status: StatusFilter = None,
        *,
        operation: str | None = None,
        metadata: Mapping[str, str] | None = None,
        created_after: TimeBound = None,
        created_before: TimeBound = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AloPage:
        """A page of ALOs in creation order that pass every filter (as AloSystem.list);
        the time bounds also take RFC 3339 or an age such as ``"7d"``."""
        call = protocol.list_call(
            status, operation, metadata, created_after, created_before, limit, cursor
        )
        return protocol.read_page(self._send(call))
