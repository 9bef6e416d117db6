"""A picture of ALO lifetimes: a bar per ALO from creation to settlement, by outcome."""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

from alo_actor._model import Status
from alo_actor.logtools._decode import format_time
from alo_actor.logtools._read import log_end
from alo_actor.logtools._replay import replay
from alo_actor.logtools._source import LogSource, opened
from eventlog import LogReader, backend_of
from eventlog._location import shown

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ALOS = 3000
COLOURS: dict[Status, str] = {
    Status.COMPLETED: "#2ca02c",
    Status.FAILED: "#d62728",
    Status.CANCELLED: "#8c8c8c",
    Status.TIMED_OUT: "#ff7f0e",
    Status.RUNNING: "#1f77b4",
    Status.PAUSED: "#9467bd",
}


class Lifetime(NamedTuple):
    """One ALO's bar: created, settled (``None`` while open), and how it ended."""

    created_at: float
    settled_at: float | None
    status: Status


class Lifetimes(NamedTuple):
    """A uniform sample of the log's ALOs, the count of all of them, and the log's end."""

    sample: list[Lifetime]
    totals: Counter[Status]
    end: float | None


def lifetimes(source: LogSource, max_alos: int = MAX_ALOS, seed: int = 0) -> Lifetimes:
    """At most ``max_alos`` ALOs drawn uniformly (a reservoir: one pass, bounded memory);
    raises SchemaError or CorruptLog for an unreadable source."""
    rng = random.Random(seed)
    sample: list[Lifetime] = []
    totals: Counter[Status] = Counter()
    with opened(source) as reader:
        end = log_end(reader)
        for seen, state in enumerate(replay(reader)):
            totals[state.status] += 1
            lifetime = Lifetime(state.created_at, state.settled_at, state.status)
            if seen < max_alos:
                sample.append(lifetime)
            else:
                slot = rng.randrange(seen + 1)
                if slot < max_alos:
                    sample[slot] = lifetime
    return Lifetimes(sample, totals, end)


def plot_lifetimes(
    source: LogSource,
    out: str | os.PathLike[str] | None = None,
    *,
    max_alos: int = MAX_ALOS,
    seed: int = 0,
) -> Figure:
    """Draw the ALOs' lifetimes (to ``out`` as PNG if given) and return the figure.

    Each ALO is a horizontal bar from ``created_at`` to ``settled_at``, or to the
    log's last event while still open, coloured by outcome; ALOs are stacked in
    creation order. Big logs are drawn from a uniform sample of ``max_alos``.
    The figure is built without pyplot, so no global backend is chosen or changed.
    Raises SchemaError or CorruptLog for an unreadable source, OSError if ``out``
    cannot be written.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    data = lifetimes(source, max_alos, seed)
    sample = sorted(data.sample, key=lambda life: life.created_at)
    fig = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    location = source.location if isinstance(source, LogReader) else shown(os.fspath(source))
    # A file by its name; a database by its URL (without the password).
    name = location if backend_of(location) == "postgresql" else os.path.basename(location)
    total = data.totals.total()
    drawn = (
        f"{len(sample):,} of {total:,} ALOs (uniform sample)"
        if len(sample) < total
        else (f"{total:,} ALOs")
    )
    ax.set_title(f"ALO lifetimes in {name}: {drawn}")
    if not sample:
        ax.text(0.5, 0.5, "no ALOs in this log", ha="center", va="center", transform=ax.transAxes)
    else:
        start = sample[0].created_at
        end = max(
            data.end if data.end is not None else start,
            *(life.settled_at or life.created_at for life in sample),
        )
        # A bar settled at its creation would be invisible: give it a sliver of width.
        sliver = max(end - start, 1e-9) * 0.002
        width = max(0.3, min(8.0, 400 / len(sample)))
        for status, colour in COLOURS.items():
            rows = [(y, life) for y, life in enumerate(sample) if life.status is status]
            if not rows:
                continue
            ax.hlines(
                [y for y, _ in rows],
                [life.created_at - start for _, life in rows],
                [
                    max((life.settled_at if life.settled_at is not None else end), life.created_at)
                    - start
                    + sliver
                    for _, life in rows
                ],
                colors=colour,
                linewidth=width,
            )
        ax.set_xlim(0, (end - start) + 2 * sliver)
        ax.set_ylim(len(sample), -1)
        ax.set_xlabel(f"seconds since {format_time(start)} (the first ALO's creation)")
        ax.set_ylabel("ALOs, in creation order")
    handles = [
        Line2D([], [], color=colour, linewidth=6, label=f"{status.value} ({data.totals[status]:,})")
        for status, colour in COLOURS.items()
        if data.totals[status]
    ]
    if handles:
        fig.legend(handles=handles, loc="outside right upper", title="outcome")
    if out is not None:
        fig.savefig(out, format="png")
    return fig
