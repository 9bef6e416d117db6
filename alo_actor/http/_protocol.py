"""uvicorn's HTTP protocol (httptools) with a header timeout.

uvicorn times out an idle keep-alive connection, but not one that is receiving a
request's headers: it cancels that timer at the first byte and sets no other, and a
new connection has none until its first response. So a client that opens
connections and sends half a request line each holds them for ever (a slowloris).
Here a request's headers must be complete within ``seconds`` of the connection's
opening or of the request's first byte; otherwise the server answers 408 and closes.
Nothing else changes: once the headers are in, the request runs as before (a body and
a long poll have their own limits), and a connection busy answering an earlier
request is left alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alo_actor.http._schemas import error_body


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with a ``seconds`` header timeout."""
    body = msgspec.json.encode(
        error_body(f"the request headers did not arrive within {seconds:g} s", "RequestTimeout")
    )
    answer = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(seconds, self._headers_timed_out)

        def _disarm(self) -> None:
            timer, self._header_timer = self._header_timer, None
            if timer is not None:
                timer.cancel()

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                # Still answering an earlier request on this connection (pipelined):
                # the next one's headers may be waiting for the server, not the client.
                self._arm()
                return
            self.transport.write(answer)
            self.transport.close()

    return HeaderTimeoutProtocol
