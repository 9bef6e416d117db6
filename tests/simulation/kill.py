"""The kill fault: a phase run by a child process on the same log file, SIGKILLed mid-phase."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from alo_actor import ManualClock
from tests.simulation.check import Call
from tests.simulation.execute import SimulationError
from tests.simulation.history import ListSink
from tests.simulation.protocol import AnyCommand
from tests.simulation.workload import Workload

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT = 60.0


class ChildEnd(NamedTuple):
    killed: bool  # False: it had ended by itself first
    shards: int  # how many it held when it began (beside the test process's systems)


def run_child(
    path: str,
    workload: Workload,
    index: int,
    clock: ManualClock,
    base_url: str,
    sink: ListSink,
    workdir: Path,
    on_ready: Callable[[], None] = lambda: None,
) -> ChildEnd:
    """Run the lanes of phase ``index`` that are the child's (``workload.child_slot``) in
    a child process and SIGKILL it as the phase says; ``on_ready`` is called when the
    child is about to begin them.

    Returns whether it was killed (it may finish first), and how many shards it held.
    Its answered calls join the history; its unanswered ones may have taken effect
    before the kill, or never.
    """
    phase = workload.phases[index]
    workload_file = workdir / f"workload-{workload.seed}.json"
    workload_file.write_bytes(msgspec.json.encode(workload))
    stderr_file = workdir / f"child-{workload.seed}-{index}.err"
    with stderr_file.open("wb") as stderr:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.simulation.child",
                path,
                str(workload_file),
                str(index),
                repr(clock.now()),
                base_url,
                str(workload.child_slot),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    lines: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, name="sim-child-reader", daemon=True)
    reader.start()
    received: list[bytes] = []
    acks = 0
    shards = 0
    killed = False
    deadline = time.monotonic() + CHILD_TIMEOUT
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulationError(f"the child of phase {index} did not get far in time")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                break  # it ended by itself
            received.append(line)
            if b'"k":"ready"' in line:
                shards = msgspec.json.decode(line, type=dict[str, Any])["shards"]
                on_ready()
            if b'"k":"ack"' in line:
                acks += 1
            if (b'"k":"ready"' in line and phase.kill_after == 0) or (
                b'"k":"ack"' in line and acks >= phase.kill_after > 0
            ):
                time.sleep(phase.kill_delay)
                # Stopped first, to see which connections it has: a POST it sent may be
                # answered (accepted) after the kill, and then sent again by the next
                # holder, rightly.
                os.kill(child.pid, signal.SIGSTOP)
                sink.dead_senders |= _tcp_ports(child.pid)
                os.kill(child.pid, signal.SIGKILL)
                killed = True
                break
            if b'"k":"done"' in line:
                break
        code = child.wait(timeout=CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(CHILD_TIMEOUT)
    sink.faults.append(time.monotonic_ns())
    reader.join(CHILD_TIMEOUT)
    while (line := lines.get_nowait()) is not None:
        received.append(line)
    assert child.stdout is not None
    child.stdout.close()
    if killed and code != -signal.SIGKILL:
        killed = False  # it had ended just before the signal
    if not killed and code != 0:
        raise SimulationError(
            f"the child of phase {index} exited with {code}: {stderr_file.read_text()[-2000:]}"
        )
    _merge_child(received, clock, sink)
    return ChildEnd(killed, shards)


def _tcp_ports(pid: int) -> set[int]:
    """The local ports of the TCP sockets process ``pid`` has open (Linux ``/proc``);
    none if it has exited already (it ended by itself, closing its connections)."""
    inodes: set[str] = set()
    ports: set[int] = set()
    try:
        fds = f"/proc/{pid}/fd"
        for fd in os.listdir(fds):
            with contextlib.suppress(OSError):  # closed meanwhile
                link = os.readlink(f"{fds}/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link.removeprefix("socket:[").removesuffix("]"))
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as lines:
                next(lines)  # the header
                for line in lines:
                    fields = line.split()  # sl local rem st queues tr retrnsmt uid timeout inode
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    except OSError:  # gone: a zombie has neither
        return set()
    return ports


def _merge_child(received: list[bytes], clock: ManualClock, sink: ListSink) -> None:
    end = time.monotonic_ns()
    invoked: dict[str, dict[str, Any]] = {}
    answered: set[str] = set()
    latest = clock.now()
    decoder = msgspec.json.Decoder(type=dict[str, Any])
    for line in received:
        if not line.endswith(b"\n"):
            continue  # cut by the kill mid-write
        entry = decoder.decode(line)
        kind = entry["k"]
        if kind == "inv":
            invoked[entry["key"]] = entry
        elif kind == "ack":
            call = msgspec.convert(entry["call"], Call)
            answered.add(entry["key"])
            latest = max(latest, call.now_hi)
            if call.response is None:
                invoked[entry["key"]] = {
                    "lane": call.lane,
                    "cmd": call.cmd,
                    "inv": call.inv,
                    "now": call.now_lo,
                }
                answered.discard(entry["key"])
            else:
                sink.calls.append(call)
        elif kind == "clock":
            latest = max(latest, entry["to"])
    for key, entry in invoked.items():
        if key in answered:
            continue
        cmd: AnyCommand = msgspec.convert(entry["cmd"], AnyCommand)
        sink.calls.append(Call(entry["lane"], cmd, entry["inv"], end, entry["now"], latest, None))
    clock.set(latest)  # the clock never goes back, whatever the child had reached
