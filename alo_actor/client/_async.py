"""``AsyncAloClient``: ``system.aio``'s verbs against an ``alo serve``, over HTTP (httpx)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from alo_actor._model import AloInfo, Failure
from alo_actor.client import _protocol as protocol
from alo_actor.client._protocol import DEFAULT_URL, Call, StatusFilter, TimeBound
from alo_actor.readmodel import AloPage


class AsyncAloClient:
    """``AloClient`` for asyncio: every verb awaitable (as on ``system.aio``), on one
    ``httpx.AsyncClient``; ``iterate`` is an async iterator. Close it with
    ``await client.aclose()`` or ``async with``.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._http = httpx.AsyncClient(
            base_url=url, headers=protocol.auth_headers(token), timeout=timeout, transport=transport
        )

    async def _send(self, call: Call) -> httpx.Response:
        return await self._http.request(
            call.method,
            call.path,
            params=call.params,
            json=call.body,
            timeout=httpx.USE_CLIENT_DEFAULT if call.timeout is None else call.timeout,
        )

    async def start(
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
        return protocol.read_start(await self._send(call))

    async def get_info(self, id: str) -> AloInfo:
        return protocol.read_info(await self._send(protocol.info_call(id)))

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        """The result, waiting up to ``timeout`` s (None: for ever) by long polls.

        Raises OperationFailed / OperationCancelled / OperationTimedOut for those
        outcomes and the built-in TimeoutError if it does not settle in time.
        """
        poll = protocol.ResultPoll(id, timeout)
        while True:
            settled, result = poll.read(await self._send(poll.next_call()))
            if settled:
                return result

    async def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
        return protocol.read_info(
            await self._send(protocol.complete_call(id, result, result_metadata))
        )

    async def fail(
        self,
        id: str,
        message: str | Failure,
        *,
        type: str | None = None,
        details: Any = None,
        stack_trace: str | None = None,
    ) -> AloInfo:
        call = protocol.fail_call(id, message, type, details, stack_trace)
        return protocol.read_info(await self._send(call))

    async def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        return protocol.read_info(await self._send(protocol.cancel_call(id, reason)))

    async def pause(self, id: str) -> AloInfo:
        return protocol.read_info(await self._send(protocol.pause_call(id)))

    async def resume(self, id: str) -> AloInfo:
        return protocol.read_info(await self._send(protocol.resume_call(id)))

    async def get_events(self, id: str) -> list[dict[str, Any]]:
        """The ALO's stored events, oldest first, as the API shows them."""
        return protocol.read_events(await self._send(protocol.events_call(id)))

    async def iterate(
        self,
        status: StatusFilter = None,
        *,
        operation: str | None = None,
        metadata: Mapping[str, str] | None = None,
        created_after: TimeBound = None,
        created_before: TimeBound = None,
        page_size: int = 100,
    ) -> AsyncIterator[AloInfo]:
        """Every ALO that passes the filters, in creation order, a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list(
                status,
                operation=operation,
                metadata=metadata,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
                cursor=cursor,
            )
            for info in page.items:
                yield info
            cursor = page.next_cursor
            if cursor is None:
                return

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAloClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Last: below it, mypy would take `list` in annotations for this method.
    async def list(
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
        return protocol.read_page(await self._send(call))
