"""The HTTP/1.1 transport of result-URL delivery, on plain asyncio streams.

httpcore and h11 speak HTTP; this module gives them asyncio streams instead of
httpcore's anyio backend (about 30% of the CPU per POST, measured here), sends a
request's head and body in one write, and reads at most ``BODY_LIMIT`` of an answer.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    pass

# Only the status line matters; a receiver's body is read this far, then dropped.
BODY_LIMIT = 64 * 1024
CLOSE_TIMEOUT = 3.0
USER_AGENT = b"alo-actor"
HOLD_LIMIT = 64 * 1024  # bytes a connection holds back to send at once


@lru_cache(maxsize=4096)  # result URLs repeat, and httpx's parser is not cheap
def parse_url(url: str) -> tuple[httpcore.URL, bytes]:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise httpx.InvalidURL("not an http(s) URL with a host")
    target = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    return target, parsed.netloc


async def drain_body(response: httpcore.Response) -> None:
    # Reading a short body lets the connection be reused; a long one is cut off
    # (the connection then closes). Raw bytes: nothing is decompressed.
    read = 0
    try:
        async for chunk in response.aiter_stream():
            read += len(chunk)
            if read > BODY_LIMIT:
                return
    except (httpcore.NetworkError, httpcore.ProtocolError, OSError):
        pass  # the status is what counts


class Stream(httpcore.AsyncNetworkStream):
    """A connection for httpcore on asyncio streams.

    Per-operation timeouts are not kept: the caller bounds the whole request.
    Small writes are held until a read (or more bytes) follows, so that a
    request's head and body leave in one send.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._held = bytearray()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._held:
            await self._flush()
        try:
            return await self._reader.read(max_bytes)
        except OSError as error:
            raise httpcore.ReadError(describe_error(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._held += buffer
        if len(self._held) >= HOLD_LIMIT:
            await self._flush()

    async def _flush(self) -> None:
        data = bytes(self._held)
        self._held.clear()
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as error:
            raise httpcore.WriteError(describe_error(error)) from error

    async def aclose(self) -> None:
        self._held.clear()
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except OSError as error:  # ssl.SSLError among them
            self._writer.close()
            raise httpcore.ConnectError(describe_error(error)) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Asked of an idle kept-alive connection: has the server closed it?
            return self._reader.at_eof() or self._writer.is_closing()
        return self._writer.get_extra_info(_EXTRA_INFO.get(info, info))


_EXTRA_INFO = {"client_addr": "sockname", "server_addr": "peername"}


class Backend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            raise httpcore.ConnectError(describe_error(error)) from error
        return Stream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def describe_error(error: BaseException) -> str:
    detail = str(error)
    name = type(error).__name__
    return f"{name}: {detail}" if detail else name
