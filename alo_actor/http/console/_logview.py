"""The log page's pictures: the rate of events over time, and the ALOs' lifetimes.

Both read the log file (in a worker thread: the callers run these off the loop).
The rate is drawn as SVG by the template from the geometry made here; the
lifetimes are ``alo log plot``'s figure, rendered to PNG.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from alo_actor._events import TERMINAL_EVENT_NAMES
from alo_actor.logtools import format_time, plot_lifetimes
from eventlog import Backend

BUCKETS = 60
# The chart's drawing area inside its SVG viewBox (0 0 WIDTH HEIGHT).
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 12, 40

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

# Events per bucket of the chart, started and settled ones among them: the bucket is
# (recorded_at - low) / width rounded down, the last one taking the log's last instant.
_SQLITE_BUCKETS = (
    "SELECT MIN(CAST((recorded_at - ?) / ? AS INTEGER), ?) AS bucket, COUNT(*), "
    "SUM(type = 'Started'), SUM(type IN ({marks})) FROM events GROUP BY bucket"
)
_POSTGRES_BUCKETS = (
    "SELECT LEAST(floor((recorded_at - %s) / %s)::bigint, %s) AS bucket, COUNT(*), "
    "COUNT(*) FILTER (WHERE type = 'Started'), COUNT(*) FILTER (WHERE type = ANY(%s)) "
    "FROM events GROUP BY bucket"
)


class Bar(NamedTuple):
    x: float
    y: float
    width: float
    height: float
    title: str


class Frame(NamedTuple):
    """The drawing area's edges, and the whole picture's size (the SVG's viewBox)."""

    left: float
    right: float
    top: float
    bottom: float
    width: float
    height: float


FRAME = Frame(LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM, WIDTH, HEIGHT)


class RateChart(NamedTuple):
    """A bar per time bucket (events per second), with lines for ALOs started and
    settled per second; coordinates in the SVG's viewBox."""

    bars: list[Bar]
    frame: Frame
    started: str  # an SVG polyline's points
    settled: str
    peak: float  # events per second at the top of the scale
    first: str  # the first and last bucket's start, as text
    last: str
    seconds: float  # one bucket's width
    total: int


def rate_chart(
    query: Query, buckets: int = BUCKETS, *, dialect: Backend = "sqlite"
) -> RateChart | None:
    """Events, starts and settlements per second over the log's span (by the time each
    event was stored); ``None`` for an empty log. One pass over the events table;
    ``query`` speaks the log's ``dialect``."""
    low, high, total = query("SELECT MIN(recorded_at), MAX(recorded_at), COUNT(*) FROM events", ())[
        0
    ]
    if not total:
        return None
    span = float(high - low)
    width = span / buckets if span > 0 else 1.0
    if dialect == "postgresql":
        rows = query(_POSTGRES_BUCKETS, (low, width, buckets - 1, list(TERMINAL_EVENT_NAMES)))
    else:
        marks = ",".join("?" * len(TERMINAL_EVENT_NAMES))
        rows = query(
            _SQLITE_BUCKETS.format(marks=marks), (low, width, buckets - 1, *TERMINAL_EVENT_NAMES)
        )
    counts = {int(b): (int(n), int(s or 0), int(t or 0)) for b, n, s, t in rows}
    n = buckets if span > 0 else 1
    peak = max(count for count, _, _ in counts.values()) / width
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / n
    bars: list[Bar] = []
    started: list[str] = []
    settled: list[str] = []

    def y(rate: float) -> float:
        return TOP + inner_h - rate / peak * inner_h

    for i in range(n):
        count, starts, ends = counts.get(i, (0, 0, 0))
        rate = count / width
        x = LEFT + i * step
        title = (
            f"{format_time(low + i * width)}: {rate:,.1f} events/s, "
            f"{starts / width:,.1f} started/s, {ends / width:,.1f} settled/s"
        )
        bars.append(
            Bar(
                round(x, 2),
                round(y(rate), 2),
                round(step * 0.9, 2),
                round(inner_h * rate / peak, 2),
                title,
            )
        )
        centre = round(x + step / 2, 2)
        started.append(f"{centre},{round(y(starts / width), 2)}")
        settled.append(f"{centre},{round(y(ends / width), 2)}")
    return RateChart(
        bars=bars,
        frame=FRAME,
        started=" ".join(started),
        settled=" ".join(settled),
        peak=peak,
        first=format_time(low),
        last=format_time(low + (n - 1) * width),
        seconds=width,
        total=int(total),
    )


# matplotlib keeps state (fonts, caches) that two threads drawing at once could race on.
_drawing = threading.Lock()


def lifetimes_png(path: str) -> bytes:
    """``alo log plot``'s picture of the log at ``path``, as PNG bytes."""
    with _drawing:
        figure = plot_lifetimes(path)
        out = io.BytesIO()
        figure.savefig(out, format="png")
    return out.getvalue()
