"""python -m benchmarks: promise throughput, latency, recovery and memory, with baselines.

Every figure is measured in the same run on the same machine, so each is also a ratio
to what a user would pick instead. Writes ``results.json``, ``results.md`` (also
printed) and PNG plots to ``--out``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
from typing import Any

from benchmarks import _plots, _report
from benchmarks._config import FULL, QUICK
from benchmarks._progress import Progress
from benchmarks._scenarios import SCENARIOS, Bench


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke-size run (~20 s idle)")
    parser.add_argument(
        "--out", default="bench-results", help="where to write the results (bench-results)"
    )
    parser.add_argument(
        "--only",
        metavar="SCENARIO",
        help=f"comma-separated scenarios to run, of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--repeat", type=int, help="runs of each measurement, the best kept (3; 1 with --quick)"
    )
    parser.add_argument("--tmp", help="scratch directory for the logs (default: a new temp dir)")
    args = parser.parse_args(argv)
    if args.only:
        chosen = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SCENARIOS]
        if unknown:
            parser.error(
                f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
            )
        args.scenarios = [s for s in SCENARIOS if s in chosen]
    else:
        args.scenarios = list(SCENARIOS)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _for_json(value: Any) -> Any:
    """The results without raw latency samples (the plots have used them)."""
    if isinstance(value, dict):
        return {k: _for_json(v) for k, v in value.items() if not k.startswith("samples_")}
    if isinstance(value, list):
        return [_for_json(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    config = QUICK if args.quick else FULL
    if args.repeat is not None:
        config = type(config)(**{**config.__dict__, "repeat": args.repeat})
    os.makedirs(args.out, exist_ok=True)
    progress = Progress()
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    meta: dict[str, Any] = {
        "command": command.strip(),
        "config": config.name,
        "repeat": config.repeat,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": _load(),
    }
    progress.line(
        f"{config.name} run of {', '.join(args.scenarios)} on {meta['cores']} cores "
        f"(load average {meta['load_before']})"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="alo-bench-", dir=args.tmp) as tmp:
        bench = Bench(config, tmp, progress)
        for name in args.scenarios:
            results[name] = getattr(bench, name)(results)
    meta["load_after"] = _load()
    meta["seconds"] = round(progress.elapsed, 1)
    goals = _report.evaluate(results)
    text = _report.markdown(results, meta, goals)
    plots = _plots.plot_all(results, args.out)
    meta["plots"] = [os.path.basename(p) for p in plots]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "goals": goals, "scenarios": _for_json(results)}, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    progress.line(f"wrote results.json, results.md and {len(plots)} plots to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
