"""Child process of test_crash: starts and completes ALOs under load until it is killed.

Usage: python crash_child.py DB_PATH

Prints one line per acknowledged call, as soon as the call returned, flushed:
``S <id>`` after ``start(id)`` returned, ``C <id>`` after ``complete(id)`` returned.
The result of ``<id>`` is ``{"result": "<id>"}``. Sync threads and an asyncio loop
keep many calls in flight. It stops by itself after a while, in case nobody kills it.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

from alo_actor import AloSystem

SELF_STOP = 30.0  # seconds: never outlive a test that died
SYNC_THREADS = 4
AIO_TASKS = 32


def main() -> None:
    system = AloSystem.open(sys.argv[1])
    out = sys.stdout
    out_lock = threading.Lock()
    stop_at = time.monotonic() + SELF_STOP

    def ack(kind: str, alo_id: str) -> None:
        with out_lock:
            out.write(f"{kind} {alo_id}\n")
            out.flush()

    def sync_worker(n: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            alo_id = f"sync-{n}-{i}"
            system.start(alo_id, None, {"worker": n, "i": i}, metadata={"kind": "sync"})
            ack("S", alo_id)
            if i % 4 != 3:  # leave some RUNNING
                system.complete(alo_id, {"result": alo_id})
                ack("C", alo_id)
            i += 1

    async def aio_task(n: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            alo_id = f"aio-{n}-{i}"
            await system.aio.start(alo_id, None, {"task": n, "i": i})
            ack("S", alo_id)
            await system.aio.complete(alo_id, {"result": alo_id})
            ack("C", alo_id)
            i += 1

    async def aio_load() -> None:
        await asyncio.gather(*(aio_task(n) for n in range(AIO_TASKS)))

    threads = [threading.Thread(target=sync_worker, args=(n,)) for n in range(SYNC_THREADS)]
    threads.append(threading.Thread(target=asyncio.run, args=(aio_load(),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    system.close()


if __name__ == "__main__":
    main()
