"""Result-URL delivery throughput: outcomes dispatched at once, until every on_final arrived.

    python -m benchmarks.bench_delivery [--batches 1000 10000] [--concurrency 100]

The receiver is a minimal asyncio HTTP/1.1 server in a child process (so it
takes a core of its own and not the dispatcher's GIL) that answers every POST
``200`` on kept-alive connections. Deliveries are signed (Standard Webhooks),
as a configured system would send them. Each batch is built first (not timed),
then dispatched at once; the figure is batch size / time until the last
on_final. The first batch also pays for opening the connections.

The CPU time per delivery (this process, all threads) is printed too: on a
shared machine it is the steadier figure, and 1e6 / it is the rate one free
core would give.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time

from alo_actor._clock import SystemClock
from alo_actor._model import AloInfo, Status
from alo_actor._timers import Timers
from alo_actor.delivery import Delivery, DeliveryOptions, Dispatcher, outcome_delivery

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


# -- the receiver (child process) --


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(buffer[:end]).lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                return
            del buffer[: end + 4 + length]
            assert self.transport is not None
            self.transport.write(RESPONSE)


def serve() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

    asyncio.run(main())


# -- the dispatcher (this process) --


def deliveries(batch: str, n: int, url: str) -> list[Delivery]:
    now = time.time()
    out = []
    for i in range(n):
        info = AloInfo(
            id=f"{batch}-{i}",
            operation="greeting",
            status=Status.COMPLETED,
            metadata={"tenant": "bench"},
            result_urls=[url],
            attempt=1,
            created_at=now - 1.0,
            settled_at=now,
            deadline=None,
            failure=None,
            result_metadata=None,
        )
        out.append(outcome_delivery(info, {"greeting": f"hello {i}"}, url))
    return out


class Finals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = self.count = self.failed = 0
        self.reason = ""

    def expect(self, n: int) -> None:
        self.expected, self.count, self.failed = n, 0, 0
        self.done.clear()

    def __call__(self, delivery: Delivery, delivered: bool, reason: str) -> None:
        with self.lock:
            self.count += 1
            if not delivered:
                self.failed += 1
                self.reason = reason
            if self.count == self.expected:
                self.done.set()


def run_batch(dispatcher: Dispatcher, finals: Finals, batch: list[Delivery]) -> tuple[float, float]:
    """Wall time and this process's CPU time until the batch's last on_final."""
    finals.expect(len(batch))
    began, cpu = time.perf_counter(), time.process_time()
    for delivery in batch:
        dispatcher.dispatch(delivery)
    if not finals.done.wait(120):
        raise TimeoutError(f"only {finals.count} of {len(batch)} deliveries finished")
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if finals.failed:
        raise AssertionError(f"{finals.failed} deliveries failed, e.g. {finals.reason}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--no-secret", action="store_true", help="send unsigned")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_delivery", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = f"http://127.0.0.1:{int(child.stdout.readline())}/callback"
        clock = SystemClock()
        timers = Timers(clock)
        finals = Finals()
        options = DeliveryOptions(
            secret=None if args.no_secret else SECRET, max_concurrency=args.concurrency
        )
        dispatcher = Dispatcher(clock, timers, finals, options)
        try:
            print(
                f"result-URL delivery, {'unsigned' if args.no_secret else 'signed'}, "
                f"max_concurrency={args.concurrency} (one receiver gets half), "
                "receiver in a child process"
            )
            for k, n in enumerate(args.batches):
                batch = deliveries(f"b{k}", n, url)
                elapsed, cpu = run_batch(dispatcher, finals, batch)
                print(
                    f"{n:>7} deliveries: {elapsed:6.2f} s  {n / elapsed:8,.0f} deliveries/s"
                    f"  ({cpu / n * 1e6:4.0f} µs CPU each in the dispatcher's process)"
                )
        finally:
            dispatcher.close()
            timers.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(10)


if __name__ == "__main__":
    main()
