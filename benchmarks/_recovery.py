"""Recovery: how long ``AloSystem.open`` takes on a big log with ALOs still pending.

The log is built fast with raw ``executemany`` of real CODEC-encoded events. Each open
is timed in a fresh process (imports done first), so nothing is warm but the OS's
page cache, which holds the file just written. The first open of such a log also
builds what the engine derives from the events (its read model), as an upgrade would;
the opens after it are what a restarting process pays.

    python -m benchmarks._recovery PATH PENDING_ID DONE_ID   (the child: prints JSON)
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from typing import Any

from benchmarks.bench_core import INSERT, event_rows
from eventlog import EventLog


def build_log(path: str, events: int, pending: int) -> tuple[float, str, str]:
    """A log of ``events`` events: ALOs started and completed, ``pending`` of them only
    started. Returns the seconds it took, a pending ALO's id and a completed one's."""
    began = time.perf_counter()
    EventLog.open(path).close()  # the same schema and indexes
    promises = (events - pending) // 2 + pending
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(INSERT, event_rows(promises, pending=pending))
    conn.execute("COMMIT")
    stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    if stored != events - (events - pending) % 2:
        raise AssertionError(f"built {stored} events, wanted {events}")
    return time.perf_counter() - began, "p0", "p1"


def time_open(path: str, pending_id: str, done_id: str) -> dict[str, Any]:
    """Time ``AloSystem.open(path)`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._recovery", path, pending_id, done_id],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _child(path: str, pending_id: str, done_id: str) -> None:
    from alo_actor import AloSystem, Status
    from benchmarks._memory import rss_bytes

    before = rss_bytes()
    began = time.perf_counter()
    system = AloSystem.open(path)
    open_s = time.perf_counter() - began
    after = rss_bytes()
    try:
        if system.get_info(pending_id).status is not Status.RUNNING:
            raise AssertionError(f"{pending_id} should be RUNNING after recovery")
        if system.get_info(done_id).status is not Status.COMPLETED:
            raise AssertionError(f"{done_id} should be COMPLETED after recovery")
    finally:
        system.close()
    print(json.dumps({"open_s": open_s, "rss_growth_bytes": after - before}))


if __name__ == "__main__":
    _child(*sys.argv[1:4])
