"""A process killed with SIGKILL mid-load loses nothing it acknowledged (semantics §4)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from alo_actor import AloSystem, AlreadyExists, Status
from alo_actor._events import CODEC, TERMINAL_EVENTS, Started
from alo_actor.logtools import verify
from tests.conftest import WAIT

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 600


def _read_lines(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)
    lines.put(None)


def test_sigkill_mid_load_loses_no_acknowledged_transition(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    child = subprocess.Popen(
        [sys.executable, str(CHILD), path],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    received: list[str] = []
    try:
        deadline = time.monotonic() + WAIT * 2
        while len(received) < ACKS_BEFORE_KILL:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {len(received)} acknowledgements came"
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the child ended early: {child.stderr.read()}"  # type: ignore[union-attr]
            received.append(line)
        assert child.poll() is None, "the child was no longer under load"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=WAIT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)
    # Everything printed before the kill is acknowledged, even if not read yet.
    reader.join(WAIT)
    assert not reader.is_alive()
    while (line := lines.get_nowait()) is not None:
        received.append(line)
    assert child.stderr is not None
    child.stderr.close()
    assert child.stdout is not None
    child.stdout.close()

    started: set[str] = set()
    completed: set[str] = set()
    for line in received:
        if not line.endswith("\n"):
            continue  # cut by the kill mid-write: not an acknowledgement
        kind, alo_id = line.split()
        (started if kind == "S" else completed).add(alo_id)
    assert completed <= started, "a complete was acknowledged before its start"
    assert len(started) + len(completed) >= ACKS_BEFORE_KILL
    assert any(a.startswith("sync-") for a in completed)
    assert any(a.startswith("aio-") for a in completed)

    # The log tools read the crashed file as it is (read-only) and find it sound.
    assert verify(path) == []

    with AloSystem.open(path) as system:
        for alo_id in started:
            info = system.get_info(alo_id)  # raises NotFound if the start was lost
            assert info.status in (Status.RUNNING, Status.COMPLETED), (alo_id, info.status)
        for alo_id in completed:
            info = system.get_info(alo_id)
            assert info.status is Status.COMPLETED, alo_id
            assert system.get_result(alo_id) == {"result": alo_id}

        # The log keeps its invariants: per-ALO versions gapless from 1, Started
        # first and once, nothing after a terminal event.
        streams: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for event in system.log.read_all():
            streams[event.stream_id].append((event.version, event.type))
        assert started <= set(streams)
        terminal_names = {t.__name__ for t in TERMINAL_EVENTS}
        for alo_id, events in streams.items():
            assert [v for v, _ in events] == list(range(1, len(events) + 1)), alo_id
            types = [t for _, t in events]
            assert types[0] == "Started" and types.count("Started") == 1, alo_id
            assert types in (["Started"], ["Started", "Completed"]), (alo_id, types)
            assert sum(t in terminal_names for t in types) <= 1
        first = system.log.read_stream(sorted(completed)[0])[0]
        decoded = CODEC.decode(first.data)
        assert isinstance(decoded, Started)

        # The reopened system works as usual on the crashed file.
        running = sorted(
            a for a in started - completed if system.get_info(a).status is Status.RUNNING
        )
        assert running, "no acknowledged ALO was left RUNNING"
        system.complete(running[0], "after the crash")
        assert system.get_result(running[0]) == "after the crash"
        assert system.start("fresh", None).created is True
        with pytest.raises(AlreadyExists):
            system.start(sorted(started)[0], None, "other input")
    with AloSystem.open(path) as system:
        assert system.get_result(running[0]) == "after the crash"
        assert system.get_info("fresh").status is Status.RUNNING
