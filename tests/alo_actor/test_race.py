"""Two processes sharing one database file race to start the same ids (semantics §4)."""

from __future__ import annotations

import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

import msgspec

from alo_actor import AloSystem, Status
from alo_actor._events import CODEC, Started
from tests.alo_actor.race_worker import race
from tests.conftest import WAIT

IDS = [f"contested-{n}" for n in range(20)]
SAME = [f"shared-{n}" for n in range(10)]


def test_two_processes_race_to_start_each_id_exactly_one_creates_it(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    AloSystem.open(path).close()  # create the schema before the race
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results: Any = ctx.Queue()
    processes = [
        ctx.Process(
            target=race,
            args=(path, name),
            kwargs={
                "other": other,
                "ids": IDS,
                "same_input_ids": SAME,
                "barrier": barrier,
                "results": results,
            },
        )
        for name, other in (("p1", "p2"), ("p2", "p1"))
    ]
    try:
        for process in processes:
            process.start()
        outcomes: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + WAIT * 3
        while len(outcomes) < len(processes):
            assert time.monotonic() < deadline, f"no outcome within {WAIT * 3} s"
            for process in processes:
                # A child that died says why on stderr (captured by pytest).
                assert process.exitcode in (None, 0), f"a racer died: {process.exitcode}"
            try:
                name, outcome = results.get(timeout=0.2)
            except queue.Empty:
                continue
            outcomes[name] = outcome
        for process in processes:
            process.join(WAIT)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(WAIT)

    winners: dict[str, str] = {}
    for alo_id in IDS:
        got = sorted((outcomes[name][alo_id], name) for name in ("p1", "p2"))
        assert [g[0] for g in got] == ["created", "exists, then created=False"], (alo_id, got)
        winners[alo_id] = next(name for outcome, name in got if outcome == "created")
    for alo_id in SAME:
        got_same = sorted(outcomes[name][alo_id] for name in ("p1", "p2"))
        assert got_same == ["created", "repeat"], (alo_id, got_same)

    with AloSystem.open(path) as system:
        for alo_id in IDS:
            stream = system.log.read_stream(alo_id)
            assert [e.type for e in stream] == ["Started"], alo_id
            started = CODEC.decode(stream[0].data)
            assert isinstance(started, Started)
            assert msgspec.msgpack.decode(started.input) == {"by": winners[alo_id]}
            assert system.get_info(alo_id).status is Status.RUNNING
        assert len(system.log.stream_ids()) == len(IDS) + len(SAME)
