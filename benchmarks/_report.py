"""The goals (met or missed) and the Markdown table of figures and ratios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PEAK = "1000"
RECOVERY_GOAL_EVENTS = "1000000"


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measure: Callable[[dict[str, Any]], tuple[float, str] | None]
    met: Callable[[float], bool]


def _dig(results: dict[str, Any], *keys: str) -> Any:
    node: Any = results
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _peak(r: dict[str, Any]) -> float | None:
    value = _dig(r, "throughput", "in_flight", PEAK, "promises_per_s")
    return None if value is None else float(value)


def _throughput(r: dict[str, Any]) -> tuple[float, str] | None:
    peak = _peak(r)
    return None if peak is None else (peak, f"{peak:,.0f} promises/s")


def _vs_eventsourcing(r: dict[str, Any]) -> tuple[float, str] | None:
    peak, best = _peak(r), _dig(r, "baselines", "eventsourcing", "best")
    if peak is None or best is None:
        return None
    es = best["promises_per_s"]
    how = f"synchronous={best['durability'].upper()}, {best['how']}"
    text = f"{peak / es:,.1f}x ({peak:,.0f} vs its best, {es:,.0f}/s: {how})"
    alo_cpu = _dig(r, "throughput", "in_flight", PEAK, "cpu_us_per_promise")
    es_cpu = best.get("cpu_us_per_promise")
    if alo_cpu and es_cpu:
        text += f"; CPU per promise {es_cpu / alo_cpu:,.1f}x less"
    return peak / es, text


def _vs_dbos(r: dict[str, Any]) -> tuple[float, str] | None:
    dbos = _dig(r, "baselines", "dbos") or {}
    peak, best = _peak(r), dbos.get("best_returns")
    if peak is None or best is None:
        return None
    rate = best["promises_per_s"]
    text = f"{peak / rate:,.1f}x ({peak:,.0f} vs its best, {rate:,.0f}/s: {best['how']})"
    waits = dbos.get("best_recv")
    if waits:
        text += f"; {peak / waits['promises_per_s']:,.1f}x a workflow completed by send"
    return peak / rate, text


def _vs_raw(r: dict[str, Any]) -> tuple[float, str] | None:
    peak, raw = _peak(r), _dig(r, "baselines", "raw_sqlite", "events_per_s")
    if peak is None or raw is None:
        return None
    return peak * 2 / raw, f"{peak * 2 / raw:.0%} ({peak * 2:,.0f} vs {raw:,.0f} events/s)"


def _at_half_peak(r: dict[str, Any]) -> dict[str, Any] | None:
    for point in _dig(r, "latency", "rates") or []:
        if point["fraction"] == 0.5:
            return dict(point)
    return None


def _p99(r: dict[str, Any]) -> tuple[float, str] | None:
    point = _at_half_peak(r)
    if point is None:
        return None
    p99 = float(point["start_ack"]["p99_ms"])
    return p99, f"{p99:.2f} ms at {point['achieved_rate']:,.0f} promises/s"


def _recovery(r: dict[str, Any]) -> tuple[float, str] | None:
    size = _dig(r, "recovery", "sizes", RECOVERY_GOAL_EVENTS)
    if size is None:
        return None
    return size["open_s"], f"{size['open_s']:.2f} s"


def _memory(r: dict[str, Any]) -> tuple[float, str] | None:
    sizes = _dig(r, "memory", "alo")
    if not sizes:
        return None
    largest = max(sizes.values(), key=lambda m: m["pending"])
    per = float(largest["bytes_per_pending"])
    return per, f"{per:,.0f} B at {largest['pending']:,} pending"


GOALS: tuple[Goal, ...] = (
    Goal("durable promises/s at 1,000 in flight", ">= 40,000", _throughput, lambda v: v >= 40_000),
    Goal("vs the eventsourcing baseline", ">= 10x", _vs_eventsourcing, lambda v: v >= 10),
    Goal("vs DBOS Transact on SQLite", ">= 10x", _vs_dbos, lambda v: v >= 10),
    Goal("share of the raw append limit (events)", ">= 20%", _vs_raw, lambda v: v >= 0.2),
    Goal("p99 start acknowledged at half the peak rate", "<= 10 ms", _p99, lambda v: v <= 10),
    Goal("recovery, 1,000,000 events, 1,000 pending", "<= 2 s", _recovery, lambda v: v <= 2),
    Goal("resident memory per pending ALO", "<= 1 KB", _memory, lambda v: v <= 1024),
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured value and status: met, missed or not measured."""
    out: list[dict[str, Any]] = []
    for goal in GOALS:
        measured = goal.measure(results)
        if measured is None:
            out.append({"goal": goal.name, "target": goal.target, "status": "not measured"})
        else:
            value, text = measured
            status = "met" if goal.met(value) else "missed"
            out.append(
                {
                    "goal": goal.name,
                    "target": goal.target,
                    "value": value,
                    "measured": text,
                    "status": status,
                }
            )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _ratio(value: float | None, other: float | None) -> str:
    return "-" if not value or not other else f"{value / other:,.2f}x"


def _throughput_rows(results: dict[str, Any]) -> list[list[str]]:
    peak = _peak(results)
    designs: list[tuple[str, dict[str, Any], bool]] = []  # name, figures, counts events
    for in_flight, figures in (_dig(results, "throughput", "in_flight") or {}).items():
        designs.append((f"alo-actor, {int(in_flight):,} in flight", figures, True))
    full = _dig(results, "throughput", "durability_full")
    if full:
        designs.append(("alo-actor, durability='full', 1,000 in flight", full, True))
    b = results.get("baselines", {})
    for key, name, events in (
        ("raw_sqlite", "raw sqlite3 executemany, 1,000 rows a commit (the limit)", True),
        ("in_memory_futures", "asyncio futures in a dict (not durable), 1,000 in flight", False),
        ("thread_per_alo", "one pykka thread-actor per ALO, 1,000 in flight", True),
    ):
        if key in b:
            designs.append((name, b[key], events))
    es = b.get("eventsourcing", {})
    for variant in es.get("variants", []):
        how = f"synchronous={variant['durability'].upper()}, {variant['how']}"
        designs.append((f"eventsourcing {es['version']}, {how}", variant, True))
    dbos = b.get("dbos", {})
    for variant in dbos.get("variants", []):
        designs.append((f"DBOS Transact {dbos['version']}, {variant['how']}", variant, False))
    rows = []
    for name, figures, events in designs:
        rate = figures["promises_per_s"]
        cpu = figures.get("cpu_us_per_promise")
        rows.append(
            [
                name,
                f"{rate:,.0f}",
                f"{rate * 2:,.0f}" if events else "-",
                _ratio(peak, rate),
                "-" if cpu is None else f"{cpu:,.0f}",
            ]
        )
    for label, skipped in (("eventsourcing", es), ("DBOS", dbos)):
        if "skipped" in skipped:
            rows.append([f"{label}: {skipped['skipped']}", "-", "-", "-", "-"])
    return rows


def _dbos_note(results: dict[str, Any]) -> list[str]:
    variants = _dig(results, "baselines", "dbos", "variants")
    if not variants:
        return []
    threads = variants[0]["executor_threads"]
    return [
        "DBOS runs in a subprocess per measurement (it is a process-wide singleton), its",
        "CPU measured there over the flow only; the waiter awaits the handle that",
        f"`DBOS.start_workflow_async` returned. At most {threads} executor threads (its",
        "default, unbounded, is a thread per call: slower at 1,000 in flight, and once it",
        "exhausted its 20-connection pool).",
        "The goal's ratio is to the workflow that returns at once: the issue's flow as",
        "written, and the fastest thing DBOS does with a client's id.",
        "",
    ]


def markdown(results: dict[str, Any], meta: dict[str, Any], goals: list[dict[str, Any]]) -> str:
    """The report: the goals first, then every scenario's figures and ratios."""
    lines = [
        "# alo-actor benchmarks",
        "",
        f"`{meta['command']}` on {meta['cores']} cores, Python {meta['python']}, "
        f"SQLite {meta['sqlite']}, {meta['when']} ({meta['config']} run, best of "
        f"{meta['repeat']}; load average {meta['load_before']} before, "
        f"{meta['load_after']} after).",
        "",
        "## Goals",
        "",
    ]
    lines += _table(
        ["goal", "target", "measured", "status"],
        [[g["goal"], g["target"], g.get("measured", "-"), g["status"]] for g in goals],
    )
    if "throughput" in results or "baselines" in results:
        lines += ["## Throughput: start -> complete -> result seen by a waiter", ""]
        lines += _table(
            [
                "design",
                "promises/s",
                "events/s",
                "alo-actor at 1,000 in flight is",
                "CPU us per promise",
            ],
            _throughput_rows(results),
        )
        lines += [
            "CPU us per promise: process CPU time (every thread, SQLite included) over the",
            "promises, least of the runs; the other processes on a shared machine change it",
            "far less than they change the rates.",
            "",
        ]
        lines += _dbos_note(results)
    lat = results.get("latency")
    if lat:
        lines += [
            f"## Latency under a paced load (peak {lat['peak_rate']:,.0f}/s from "
            f"{lat['peak_from']})",
            "",
        ]
        rows = []
        for point in lat["rates"]:
            rate = f"{point['achieved_rate']:,.0f}/s ({point['fraction']:.0%})"
            kinds = [
                ("start acknowledged (durable)", point["start_ack"]),
                ("complete -> waiter woken", point["complete_to_woken"]),
                ("pacer lag (how late each start was sent)", point["pacer_lag"]),
            ]
            floor = point.get("in_memory_floor")
            if floor:
                kinds += [
                    ("floor: asyncio futures, start", floor["start_ack"]),
                    ("floor: asyncio futures, complete -> woken", floor["complete_to_woken"]),
                ]
            for name, figures in kinds:
                cells = [f"{figures[p]:,.2f}" for p in ("p50_ms", "p99_ms", "p99_9_ms", "max_ms")]
                rows.append([rate, name, *cells])
        lines += _table(["rate", "latency", "p50 ms", "p99 ms", "p99.9 ms", "max ms"], rows)
        lines += [
            "Pacer lag is how late the event loop's thread ran a timer: what the machine (other",
            "processes, the GIL) adds to every row. The asyncio-futures rows are the same load",
            "with no engine and no durability (their start never even yields to the loop).",
            "",
        ]
    rec = results.get("recovery")
    if rec:
        lines += ["## Recovery: `AloSystem.open(path)` until it returns, in a fresh process", ""]
        rows = [
            [
                f"{s['events']:,}",
                f"{s['pending']:,}",
                f"{s['file_bytes'] / 1e6:,.0f} MB",
                f"{s['first_open_s']:.3f}",
                f"{s['open_s']:.3f}",
                f"{s['events'] / s['open_s']:,.0f}",
            ]
            for s in rec["sizes"].values()
        ]
        lines += _table(
            ["events", "pending", "file", "first open s", "restart open s", "events/s"], rows
        )
    mem = results.get("memory")
    if mem:
        lines += ["## Resident memory per pending promise (VmRSS growth / N)", ""]
        rows = []
        for key, m in mem["alo"].items():
            futures = mem["in_memory_futures"].get(key)
            rows.append(
                [
                    f"{m['pending']:,}",
                    f"{m['bytes_per_pending']:,.0f}",
                    f"{futures['bytes_per_pending']:,.0f}" if futures else "-",
                    _ratio(
                        m["bytes_per_pending"], futures["bytes_per_pending"] if futures else None
                    ),
                    m["how"],
                ]
            )
        lines += _table(
            ["pending", "alo-actor B each", "asyncio future B each", "ratio", "how"], rows
        )
    growth = results.get("growth")
    if growth:
        points = growth["points"]
        first, last = points[0], points[-1]
        lines += [
            f"## Throughput as the log grows (batches of {growth['batch']:,} promises, "
            f"{growth['in_flight']:,} in flight)",
            "",
        ]
        rows = [
            [
                f"{p['log_events_before']:,}",
                f"{p['promises_per_s']:,.0f}",
                f"{p['cpu_us_per_promise']:,.0f}",
            ]
            for p in points
            if p in (first, points[len(points) // 2], last)
        ]
        lines += _table(["log events before the batch", "promises/s", "CPU us per promise"], rows)
        quarter = max(1, len(points) // 4)
        early = sum(p["cpu_us_per_promise"] for p in points[:quarter]) / quarter
        late = sum(p["cpu_us_per_promise"] for p in points[-quarter:]) / quarter
        lines += [
            f"CPU per promise, last quarter of the batches / first quarter: {late / early:.2f}x.",
            "",
        ]
    return "\n".join(lines)
