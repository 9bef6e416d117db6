"""actors.Shards: a member's leases over a real log file, knowing nothing of ALOs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pytest

from actors import Shards
from actors._shards import preferred
from eventlog import Claim, EventLog
from tests.conftest import WAIT, read_line, wait_until


class Recorder:
    def __init__(self) -> None:
        self.claimed: list[int] = []
        self.lost: list[int] = []
        self.lock = threading.Lock()

    def on_claimed(self, claims: Sequence[Claim]) -> None:
        with self.lock:
            self.claimed.extend(claim.lease.shard for claim in claims)

    def on_lost(self, shards: Collection[int]) -> None:
        with self.lock:
            self.lost.extend(shards)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "log.db")


@pytest.fixture
def logs(path: str) -> Iterator[list[EventLog]]:
    opened: list[EventLog] = []
    yield opened
    for log in opened:
        log.close()


def member(
    logs: list[EventLog], path: str, lease: float = 2.0, **kwargs: object
) -> tuple[Shards, Recorder]:
    log = EventLog.open(path, shards=16)
    logs.append(log)
    recorder = Recorder()
    shards = Shards(
        log,
        on_claimed=recorder.on_claimed,
        on_lost=recorder.on_lost,
        lease_seconds=lease,
        **kwargs,  # type: ignore[arg-type]
    )
    return shards, recorder


def owners(log: EventLog) -> Counter[str | None]:
    return Counter(lease.owner for lease in log.leases())


def test_rendezvous_hashing_spreads_shards_and_moves_few_when_a_member_joins() -> None:
    three = ["a", "b", "c"]
    placed = {shard: preferred(shard, three) for shard in range(1024)}
    assert min(Counter(placed.values()).values()) > 1024 / 3 * 0.8
    four = {shard: preferred(shard, [*three, "d"]) for shard in range(1024)}
    moved = [shard for shard in placed if placed[shard] != four[shard]]
    assert all(four[shard] == "d" for shard in moved)  # only to the newcomer
    assert len(moved) < 1024 / 4 * 1.3
    assert preferred(7, []) is None


def test_a_member_alone_claims_every_shard_at_start_and_releases_them_on_stop(
    logs: list[EventLog], path: str
) -> None:
    shards, recorder = member(logs, path)
    shards.start()
    assert sorted(recorder.claimed) == list(range(16))  # before start returned
    assert owners(logs[0]) == {shards.id: 16}
    assert all(shards.epoch(s) is not None for s in range(16))
    assert shards.owns("any-stream") and shards.fence("any-stream") is not None
    claimed_at = shards.claimed_at(logs[0].shard_of("any-stream"))
    assert claimed_at == logs[0].head().position
    shards.stop()
    assert sorted(recorder.lost) == list(range(16))
    assert owners(logs[0]) == {None: 16}
    assert not shards.owns("any-stream")
    shards.stop()  # idempotent


def test_two_members_split_the_shards_and_one_takes_all_when_the_other_leaves(
    logs: list[EventLog], path: str
) -> None:
    first, _ = member(logs, path)
    second, second_seen = member(logs, path)
    first.start()
    second.start()
    wanted = {s for s in range(16) if preferred(s, [first.id, second.id]) == second.id}
    wait_until(lambda: set(second.held()) == wanted, what="the second to hold its share")
    wait_until(lambda: owners(logs[0]) == {first.id: 16 - len(wanted), second.id: len(wanted)})
    first.stop()
    wait_until(lambda: len(second.held()) == 16, what="the takeover")
    assert owners(logs[0]) == {second.id: 16}
    second.stop()
    assert sorted(second_seen.lost) == list(range(16))


def test_a_member_that_cannot_execute_yields_its_shards(logs: list[EventLog], path: str) -> None:
    able = threading.Event()
    idle, idle_seen = member(logs, path, executes=able.is_set)
    worker, _ = member(logs, path)
    idle.start()
    assert len(idle.held()) == 16  # alone, it holds them all the same
    worker.start()
    wait_until(lambda: owners(logs[0]) == {worker.id: 16}, what="the worker to take all")
    assert sorted(idle_seen.lost) == list(range(16))
    able.set()
    idle.rebalance()
    wait_until(lambda: set(owners(logs[0])) == {idle.id, worker.id}, what="a split again")
    idle.stop()
    worker.stop()


def test_a_fenced_append_loses_its_shard(logs: list[EventLog], path: str) -> None:
    shards, recorder = member(logs, path)
    shards.start()
    epoch = shards.epoch(3)
    assert epoch is not None
    shards.fenced(3, epoch + 7)  # not the epoch held: nothing happens
    assert shards.epoch(3) == epoch and recorder.lost == []
    shards.fenced(3, epoch)
    assert shards.epoch(3) is None and recorder.lost == [3]
    shards.stop()


def test_a_dead_holder_on_this_host_is_taken_over_before_its_lease_lapses(
    logs: list[EventLog], path: str, tmp_path: Path
) -> None:
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import sys, time\n"
        "from actors import Shards\n"
        "from eventlog import EventLog\n"
        "log = EventLog.open(sys.argv[1], shards=16)\n"
        "shards = Shards(log, on_claimed=lambda c: None, on_lost=lambda s: None,"
        " lease_seconds=3600)\n"
        "shards.start()\n"
        "print(shards.id, flush=True)\n"
        "time.sleep(3600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, str(holder), path],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        child_id = read_line(child.stdout, what="the child's member id")
        log = EventLog.open(path, shards=16)
        logs.append(log)
        assert owners(log) == {child_id: 16}
        [(text,)] = log.query("SELECT info FROM members WHERE member = ?", (child_id,))
        info = json.loads(text)
        assert info["pid"] == child.pid
        child.kill()
        child.wait(WAIT)
        shards, _ = member(logs, path, lease=3600)
        shards.start()  # its first round sees the pid gone, and claims at once
        assert owners(logs[-1]) == {shards.id: 16}
        shards.stop()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)


def test_a_lapsed_lease_is_taken_over(logs: list[EventLog], path: str) -> None:
    log = EventLog.open(path, shards=16)
    logs.append(log)
    # A member of another host (so no pid can tell), silent since its claim.
    log.heartbeat("far-away", json.dumps({"host": "elsewhere", "pid": 1}), ttl=0.3)
    log.claim("far-away", dict.fromkeys(range(16), 0), ttl=0.3)
    shards, recorder = member(logs, path, lease=2.0)
    shards.start()
    # Told once the claim is made (the log shows it a moment before).
    wait_until(lambda: sorted(recorder.claimed) == list(range(16)), what="the claims")
    assert owners(log) == {shards.id: 16}
    shards.stop()
