"""HTTP throughput: ``alo serve`` in a subprocess, many clients doing start then result?wait.

Run ``python -m benchmarks.bench_http`` from the repository root. The server runs
one handler (``bench.echo``, loaded with ``--app``) over a temporary log; client
processes each keep their share of the connections busy, every client doing
``POST /v1/alos`` then ``GET /v1/alos/{id}/result?wait=30s`` per ALO, for a warm-up
second and then ``--seconds``. Prints ALOs/s and the p50/p99 latency of the pair.

``--client raw`` (default) speaks keep-alive HTTP/1.1 over asyncio streams, so the
clients leave most of the two cores to the server; ``--client httpx`` uses
``httpx.AsyncClient`` with a connection pool.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alo_actor import AloSystem, HandlerContext

REPO = Path(__file__).resolve().parents[1]
WARMUP = 1.0


def echo(ctx: HandlerContext, input: Any) -> Any:
    return input


def register(system: AloSystem) -> None:
    """The ``--app benchmarks.bench_http:register`` hook of the server under test."""
    system.register("bench.echo", echo)


@dataclass
class Tally:
    """One client process's count: latencies (s) of the ALOs finished inside the window."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


# -- a minimal keep-alive HTTP/1.1 client: cheap, so the server gets the CPU --------------


class RawConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        headers = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        content = await self.reader.readexactly(length)
        return int(status_line.split(b" ", 2)[1]), content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def _raw_client(
    base: tuple[str, int], prefix: str, start_at: float, stop_at: float, tally: Tally
) -> None:
    conn = RawConnection(*base)
    n = 0
    try:
        while (now := time.time()) < stop_at:
            n += 1
            alo_id = f"{prefix}-{n}"
            body = json.dumps({"id": alo_id, "operation": "bench.echo", "input": n}).encode()
            began = time.perf_counter()
            status, content = await conn.request("POST", "/v1/alos", body)
            if status == 201:
                status, content = await conn.request("GET", f"/v1/alos/{alo_id}/result?wait=30s")
            _count(tally, now >= start_at, status, content, time.perf_counter() - began)
    finally:
        await conn.close()


async def _raw_batch_client(
    base: tuple[str, int], prefix: str, start_at: float, stop_at: float, tally: Tally, size: int
) -> None:
    """``size`` ALOs a request: one ``POST /v1/batch`` that starts them and waits for
    their results; each ALO counts with the batch's latency."""
    conn = RawConnection(*base)
    n = 0
    try:
        while (now := time.time()) < stop_at:
            ids = [f"{prefix}-{n + i}" for i in range(size)]
            n += size
            body = json.dumps(
                {
                    "starts": [{"id": i, "operation": "bench.echo", "input": 1} for i in ids],
                    "results": ids,
                    "wait": "30s",
                }
            ).encode()
            began = time.perf_counter()
            status, content = await conn.request("POST", "/v1/batch", body)
            elapsed = time.perf_counter() - began
            if status == 200:
                answers = json.loads(content)["results"]
                bad = [a for a in answers if a["status"] != 200]
                if bad:
                    status, content = bad[0]["status"], json.dumps(bad[0]).encode()
            for _ in ids:
                _count(tally, now >= start_at, status, content, elapsed)
    finally:
        await conn.close()


async def _httpx_client(
    client: httpx.AsyncClient, prefix: str, start_at: float, stop_at: float, tally: Tally
) -> None:
    n = 0
    while (now := time.time()) < stop_at:
        n += 1
        alo_id = f"{prefix}-{n}"
        began = time.perf_counter()
        response = await client.post(
            "/v1/alos", json={"id": alo_id, "operation": "bench.echo", "input": n}
        )
        if response.status_code == 201:
            response = await client.get(f"/v1/alos/{alo_id}/result", params={"wait": "30s"})
        elapsed = time.perf_counter() - began
        _count(tally, now >= start_at, response.status_code, response.content, elapsed)


def _count(tally: Tally, measured: bool, status: int, content: bytes, elapsed: float) -> None:
    if status != 200:
        tally.errors += 1
        tally.first_error = tally.first_error or f"{status} {content[:200]!r}"
    elif measured:
        tally.latencies.append(elapsed)


def drive(
    kind: str, port: int, clients: int, begin: float, seconds: float, worker: int, batch: int = 0
) -> Tally:
    """One client process: ``clients`` concurrent clients from ``begin`` (wall clock);
    ``batch`` ALOs a request through ``POST /v1/batch`` if not 0."""
    return asyncio.run(_drive(kind, port, clients, begin, seconds, worker, batch))


async def _drive(
    kind: str, port: int, clients: int, begin: float, seconds: float, worker: int, batch: int
) -> Tally:
    tally = Tally()
    await asyncio.sleep(max(0.0, begin - time.time()))
    start_at, stop_at = begin + WARMUP, begin + WARMUP + seconds
    run = uuid.uuid4().hex[:8]
    prefixes = [f"{run}-{worker}-{i}" for i in range(clients)]
    if batch:
        base = ("127.0.0.1", port)
        await asyncio.gather(
            *(_raw_batch_client(base, p, start_at, stop_at, tally, batch) for p in prefixes)
        )
    elif kind == "raw":
        await asyncio.gather(
            *(_raw_client(("127.0.0.1", port), p, start_at, stop_at, tally) for p in prefixes)
        )
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as client:
            await asyncio.gather(
                *(_httpx_client(client, p, start_at, stop_at, tally) for p in prefixes)
            )
    return tally


# -- the server under test -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(db: str, port: int, durability: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from alo_actor.cli import main; main()",
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--durability",
        durability,
        "--app",
        "benchmarks.bench_http:register",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=REPO)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"alo serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("alo serve did not answer /healthz within 30 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_during(pid: int, start_at: float, seconds: float) -> float | None:
    """The server's CPU seconds over the measured window (so a figure survives a busy
    machine better than throughput alone)."""
    time.sleep(max(0.0, start_at - time.time()))
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    after = _cpu_seconds(pid)
    return None if before is None or after is None else after - before


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--durability", choices=("normal", "full"), default="normal")
    parser.add_argument("--port", type=int, default=0, help="an alo serve already running")
    parser.add_argument(
        "--batch", type=int, default=100, help="ALOs per POST /v1/batch in a second phase (0: none)"
    )
    parser.add_argument("--batch-clients", type=int, default=10, help="clients of that phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch:
        port = args.port or free_port()
        server = (
            None
            if args.port
            else start_server(os.path.join(scratch, "alo.db"), port, args.durability)
        )
        try:
            phases = [0] + ([args.batch] if args.batch else [])
            results = [_phase(args, port, server, batch) for batch in phases]
        finally:
            if server is not None:
                stop_server(server)
    for batch, (tallies, server_cpu) in zip(phases, results, strict=True):
        _report(args, batch, tallies, server_cpu)
    if len(results) == 2:
        rates = [sum(len(t.latencies) for t in tallies) for tallies, _ in results]
        if rates[0]:
            print(f"batches of {args.batch} / one request per step: {rates[1] / rates[0]:.2f}x")


def _phase(
    args: argparse.Namespace, port: int, server: subprocess.Popen[bytes] | None, batch: int
) -> tuple[list[Tally], float | None]:
    shares = [args.clients // args.processes] * args.processes
    shares[0] += args.clients - sum(shares)
    begin = time.time() + 2.0  # every client process is up before the clock starts
    context = multiprocessing.get_context("spawn")
    clients = args.batch_clients if batch else None
    if clients is not None:
        shares = [clients // args.processes] * args.processes
        shares[0] += clients - sum(shares)
    with concurrent.futures.ProcessPoolExecutor(len(shares), mp_context=context) as pool:
        futures = [
            pool.submit(drive, args.client, port, share, begin, args.seconds, worker, batch)
            for worker, share in enumerate(shares)
        ]
        server_cpu = None
        if server is not None:
            server_cpu = _cpu_during(server.pid, begin + WARMUP, args.seconds)
        tallies = [f.result(timeout=args.seconds + 120) for f in futures]
    return tallies, server_cpu


def _report(
    args: argparse.Namespace, batch: int, tallies: list[Tally], server_cpu: float | None
) -> None:
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors = sum(t.errors for t in tallies)
    if batch:
        print(
            f"alo serve, {args.batch_clients} clients, {args.seconds:.0f} s, POST /v1/batch of "
            f"{batch} starts + their results per request"
        )
    else:
        print(
            f"alo serve, {args.clients} clients ({args.client}, {args.processes} process(es)), "
            f"{args.seconds:.0f} s, start + result?wait per ALO, durability={args.durability}"
        )
    print(f"  ALOs/s:  {len(latencies) / args.seconds:,.0f}  ({len(latencies):,} ALOs)")
    print(
        f"  latency: p50 {_quantile(latencies, 0.50) * 1000:.1f} ms, "
        f"p99 {_quantile(latencies, 0.99) * 1000:.1f} ms"
        + (" (of the batch each ALO was in)" if batch else "")
    )
    if server_cpu is not None and latencies:
        per_alo = server_cpu / len(latencies) * 1e6
        print(
            f"  server:  {per_alo:.0f} us CPU per ALO "
            f"({server_cpu / args.seconds:.0%} of one core, all its threads)"
        )
    if errors:
        first = next(t.first_error for t in tallies if t.first_error)
        print(f"  errors:  {errors} (first: {first})")


if __name__ == "__main__":
    main()
