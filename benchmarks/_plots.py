"""PNG plots of the results (matplotlib, Agg backend): one per scenario that ran."""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt


def _save(fig: Any, out: str, name: str) -> str:
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(results: dict[str, Any], out: str) -> str | None:
    t, b = results.get("throughput"), results.get("baselines", {})
    if not t and not b:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if t:
        levels = [int(k) for k in t["in_flight"]]
        rates = [v["promises_per_s"] for v in t["in_flight"].values()]
        left.plot(levels, rates, marker="o", label="alo-actor (durable)")
        left.set_xscale("log")
        left.set_xlabel("promises in flight")
        left.set_ylabel("promises/s")
        left.set_title("alo-actor throughput by concurrency")
        left.axhline(40_000, linestyle="--", color="grey", label="goal: 40,000/s")
        left.legend()
    bars: list[tuple[str, float]] = []
    if t:
        bars.append(("alo-actor", t["in_flight"]["1000"]["promises_per_s"]))
        bars.append(("alo-actor full", t["durability_full"]["promises_per_s"]))
    if "raw_sqlite" in b:
        bars.append(("raw sqlite", b["raw_sqlite"]["promises_per_s"]))
    if "in_memory_futures" in b:
        bars.append(("futures (RAM)", b["in_memory_futures"]["promises_per_s"]))
    if "thread_per_alo" in b:
        bars.append(("thread/ALO", b["thread_per_alo"]["promises_per_s"]))
    es = b.get("eventsourcing", {})
    if "best" in es:
        bars.append(("eventsourcing", es["best"]["promises_per_s"]))
    dbos = b.get("dbos", {})
    if "best_returns" in dbos:
        bars.append(("DBOS", dbos["best_returns"]["promises_per_s"]))
    if "best_recv" in dbos:
        bars.append(("DBOS recv/send", dbos["best_recv"]["promises_per_s"]))
    right.bar([n for n, _ in bars], [v for _, v in bars], color="tab:blue")
    right.set_yscale("log")
    right.set_ylabel("promises/s (log)")
    right.set_title("designs at 1,000 in flight (same machine, same run)")
    right.tick_params(axis="x", rotation=30)
    return _save(fig, out, "throughput.png")


def _latency(results: dict[str, Any], out: str) -> str | None:
    lat = results.get("latency")
    if not lat:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for point in lat["rates"]:
        for key, label, style in (
            ("samples_start_ack_ms", "start acknowledged", "-"),
            ("samples_complete_to_woken_ms", "complete -> woken", ":"),
        ):
            samples = sorted(point[key])
            n = len(samples)
            ax.plot(
                samples,
                [(i + 1) / n for i in range(n)],
                style,
                label=f"{label}, {point['achieved_rate']:,.0f}/s",
            )
    ax.axvline(10, linestyle="--", color="grey", label="goal: p99 <= 10 ms at half the peak")
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log)")
    ax.set_ylabel("fraction of promises")
    ax.set_title("latency CDF under a paced load")
    ax.legend(fontsize="small")
    return _save(fig, out, "latency.png")


def _growth(results: dict[str, Any], out: str) -> str | None:
    growth = results.get("growth")
    if not growth:
        return None
    points = growth["points"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(
        [p["log_events_before"] for p in points],
        [p["promises_per_s"] for p in points],
        marker=".",
    )
    ax.set_ylim(bottom=0)
    ax.set_xlabel("events in the log")
    ax.set_ylabel("promises/s")
    cpu = ax.twinx()
    cpu.plot(
        [p["log_events_before"] for p in points],
        [p["cpu_us_per_promise"] for p in points],
        color="tab:orange",
        marker=".",
    )
    cpu.set_ylim(bottom=0)
    cpu.set_ylabel("CPU us per promise (orange)")
    ax.set_title(f"throughput as the log grows (batches of {growth['batch']:,})")
    return _save(fig, out, "growth.png")


def _recovery_memory(results: dict[str, Any], out: str) -> str | None:
    rec, mem = results.get("recovery"), results.get("memory")
    if not rec and not mem:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if rec:
        sizes = list(rec["sizes"].values())
        left.bar([f"{s['events']:,}" for s in sizes], [s["open_s"] for s in sizes])
        left.axhline(2, linestyle="--", color="grey", label="goal: 2 s at 1M")
        left.set_xlabel(f"events in the log ({sizes[0]['pending']:,} pending)")
        left.set_ylabel("seconds to open")
        left.set_title("recovery")
        left.legend()
    if mem:
        alo = list(mem["alo"].values())
        futures = list(mem["in_memory_futures"].values())
        labels = [f"{m['pending']:,}" for m in alo]
        xs = range(len(labels))
        right.bar([x - 0.2 for x in xs], [m["bytes_per_pending"] for m in alo], 0.4, label="ALO")
        right.bar(
            [x + 0.2 for x in xs],
            [m["bytes_per_pending"] for m in futures],
            0.4,
            label="asyncio future",
        )
        right.set_xticks(list(xs), labels)
        right.axhline(1024, linestyle="--", color="grey", label="goal: 1 KB")
        right.set_xlabel("pending")
        right.set_ylabel("resident bytes each")
        right.set_title("memory per pending promise")
        right.legend()
    return _save(fig, out, "recovery_memory.png")


def plot_all(results: dict[str, Any], out: str) -> list[str]:
    """Write a PNG for each scenario group that has results; return their paths."""
    made = []
    for plot in (_throughput, _latency, _growth, _recovery_memory):
        path = plot(results, out)
        if path is not None:
            made.append(path)
    return made
