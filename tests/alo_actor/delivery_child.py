"""Child process for the crash test: settles ALOs with a result URL, reports each
acknowledged outcome, then waits to be killed."""

from __future__ import annotations

import sys
import time

from alo_actor import AloSystem


def main() -> None:
    db, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    system = AloSystem.open(db)
    for i in range(count):
        system.start(f"k{i}", result_urls=[url])
        system.complete(f"k{i}", {"n": i})
        print(f"completed k{i}", flush=True)
    time.sleep(60)  # the parent kills us long before this


if __name__ == "__main__":
    main()
