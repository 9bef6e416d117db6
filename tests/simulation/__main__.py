"""Run many simulation seeds: ``python -m tests.simulation --seeds 1000 [--start N]``.

Each failing seed prints its problems and the command line that reruns exactly that
seed (same workload, same fault points; thread timing is the machine's).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tests.simulation.run import Report, run_seed
from tests.simulation.workload import SIZES

MAX_PROBLEMS_SHOWN = 5


def _one(args: tuple[int, str, str]) -> Report:
    seed, size, workdir = args
    return run_seed(seed, SIZES[size], size, Path(workdir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=1, help="the first seed")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (processes)")
    parser.add_argument("--quiet", action="store_true", help="print failing seeds only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # given-up deliveries are expected here
    seeds = range(args.start, args.start + args.seeds)
    failed: list[Report] = []
    faults = 0
    calls = 0
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alo-sim-") as workdir:
        jobs = [(seed, args.size, workdir) for seed in seeds]
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                reports = pool.map(_one, jobs)
                failed, faults, calls = _collect(reports, args.quiet)
        else:
            failed, faults, calls = _collect(map(_one, jobs), args.quiet)
    print(
        f"{len(seeds)} seeds ({args.size}), {calls} calls, {faults} faults, "
        f"{len(failed)} failed, {time.monotonic() - began:.1f} s"
    )
    for report in failed:
        print(f"  seed {report.seed}: rerun with: {report.repro()}")
    return 1 if failed else 0


def _collect(reports: object, quiet: bool) -> tuple[list[Report], int, int]:
    failed: list[Report] = []
    faults = calls = 0
    for report in reports:  # type: ignore[attr-defined]
        assert isinstance(report, Report)
        faults += report.faults.total()
        calls += report.calls
        if report.ok:
            if not quiet:
                print(report.summary(), flush=True)
            continue
        failed.append(report)
        print(report.summary(), flush=True)
        for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
            print("  " + problem.replace("\n", "\n  "))
        if len(report.problems) > MAX_PROBLEMS_SHOWN:
            print(f"  … and {len(report.problems) - MAX_PROBLEMS_SHOWN} more problems")
        print(f"  rerun with: {report.repro()}", flush=True)
    return failed, faults, calls


if __name__ == "__main__":
    sys.exit(main())
