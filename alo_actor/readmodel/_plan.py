"""How a listing page is read from the projection: which index drives it, and its SQL.

Every index of the ``alos`` read model ends in ``seq``, so each filter can be read in
creation order from the cursor on, and a page stops after ``limit`` rows pass the
other filters. The work is the rows the driving index yields until then: the most
selective filter should drive, and a time range, whose index is not in ``seq``
order, narrows the ``seq`` range when it holds few ALOs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alo_actor.readmodel._projection import COLUMNS

if TYPE_CHECKING:
    from alo_actor.readmodel._listing import Filters

# Runs one read-only statement: ``EventLog.query``, or a read-only connection's.
Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

# Index entries read, at most, to judge how selective one filter is.
SAMPLE = 2000
# A time range holding fewer ALOs than this bounds the seq range exactly.
TIME_SAMPLE = 50_000

_A_COLUMNS = "a.seq, " + ", ".join(f"a.{c}" for c in COLUMNS)

# A driver: ("status", words), ("operation", name), ("pair", (key, value)), or
# ("all", None) for the table itself.
Driver = tuple[str, Any]
# The seqs a page may hold: after ``low``, up to ``high`` (None: no end).
Span = tuple[int, int | None]


def plan(query: Query, filters: Filters, after: int, limit: int) -> tuple[str, list[Any]] | None:
    """The SELECT of one page (``SELECT_COLUMNS``, ``limit`` rows at most) after ``after``.

    ``None`` when nothing can match (a time range with no ALO in it).
    """
    span = _span(query, filters, after)
    if span is None:
        return None
    return _select(filters, _driver(query, filters, span), span, limit)


def _span(query: Query, filters: Filters, after: int) -> Span | None:
    """Exact seq bounds of the time range, when it holds few ALOs; else just the cursor.

    The whole range is counted, not only what follows the cursor: a late page of a
    big range must not read the range's early part to find that it is big.
    """
    where: list[str] = []
    params: list[Any] = []
    if filters.created_after is not None:
        where.append("created_at >= ?")
        params.append(filters.created_after)
    if filters.created_before is not None:
        where.append("created_at < ?")
        params.append(filters.created_before)
    if not where:
        return after, None
    count, least, most = query(
        "SELECT COUNT(*), MIN(seq), MAX(seq) FROM (SELECT seq FROM alos INDEXED BY "
        f"alos_created WHERE {' AND '.join(where)} LIMIT ?)",
        (*params, TIME_SAMPLE),
    )[0]
    if count == 0:
        return None
    if count >= TIME_SAMPLE:
        return after, None
    if most <= after:
        return None
    return max(after, least - 1), most


def _driver(query: Query, filters: Filters, span: Span) -> Driver:
    """The most selective index for these filters, judged on a sample of each.

    The driver with the fewest entries per ``seq`` in the span wins. Metadata
    first on a tie: a label is usually narrower than a status.
    """
    candidates: list[Driver] = [("pair", pair) for pair in filters.metadata]
    if filters.operation is not None:
        candidates.append(("operation", filters.operation))
    if filters.statuses is not None:
        candidates.append(("status", filters.statuses))
    if not candidates:
        return ("all", None)
    if len(candidates) == 1:
        return candidates[0]
    low, high = span
    if high is None:
        high = query("SELECT COALESCE(MAX(seq), 0) FROM alos", ())[0][0]
    return min(candidates, key=lambda driver: _density(query, driver, low, high))


def _density(query: Query, driver: Driver, low: int, high: int) -> float:
    kind, value = driver
    if kind == "pair":
        samples = [("alo_metadata WHERE key = ? AND value = ?", value)]
    elif kind == "operation":
        samples = [("alos INDEXED BY alos_operation WHERE operation = ?", (value,))]
    else:
        samples = [("alos INDEXED BY alos_status WHERE status = ?", (word,)) for word in value]
    density = 0.0
    for source, params in samples:
        count, last = query(
            f"SELECT COUNT(*), MAX(seq) FROM (SELECT seq FROM {source} AND seq > ? "
            "AND seq <= ? ORDER BY seq LIMIT ?)",
            (*params, low, high, SAMPLE),
        )[0]
        span = (last if count >= SAMPLE else high) - low
        density += count / max(span, 1)
    return density


def _select(filters: Filters, driver: Driver, span: Span, limit: int) -> tuple[str, list[Any]]:
    kind, value = driver
    if kind == "status" and len(value) > 1:
        # One ordered read per status, merged: an IN over the index would have to
        # sort every match to find the first few.
        arms: list[str] = []
        params: list[Any] = []
        for word in value:
            arm, arm_params = _select(filters, ("status", (word,)), span, limit)
            arms.append(f"SELECT * FROM ({arm})")
            params.extend(arm_params)
        params.append(limit)
        return " UNION ALL ".join(arms) + " ORDER BY seq LIMIT ?", params
    if kind == "pair":
        source = "alo_metadata AS m CROSS JOIN alos AS a ON a.seq = m.seq"
        head, head_params, seq = "m.key = ? AND m.value = ?", list(value), "m.seq"
    elif kind == "operation":
        source = "alos AS a INDEXED BY alos_operation"
        head, head_params, seq = "a.operation = ?", [value], "a.seq"
    elif kind == "status":
        source = "alos AS a INDEXED BY alos_status"
        head, head_params, seq = "a.status = ?", [value[0]], "a.seq"
    else:
        source = "alos AS a NOT INDEXED"  # the rowid, in order; no index may sort it
        head, head_params, seq = "1", [], "a.seq"
    low, high = span
    head += f" AND {seq} > ?"
    head_params.append(low)
    if high is not None:
        head += f" AND {seq} <= ?"
        head_params.append(high)
    where, params = _checks(filters, driver)
    sql = (
        f"SELECT {_A_COLUMNS} FROM {source} WHERE {' AND '.join([head, *where])} "
        f"ORDER BY {seq} LIMIT ?"
    )
    return sql, [*head_params, *params, limit]


def _checks(filters: Filters, driver: Driver) -> tuple[list[str], list[Any]]:
    """The filters the driver does not already apply, as conditions on row ``a``."""
    kind, value = driver
    where: list[str] = []
    params: list[Any] = []
    if filters.statuses is not None and kind != "status":
        where.append(f"a.status IN ({', '.join('?' * len(filters.statuses))})")
        params.extend(filters.statuses)
    if filters.operation is not None and kind != "operation":
        where.append("a.operation = ?")
        params.append(filters.operation)
    for pair in filters.metadata:
        if kind == "pair" and pair == value:
            continue
        where.append(
            "EXISTS (SELECT 1 FROM alo_metadata AS x "
            "WHERE x.key = ? AND x.value = ? AND x.seq = a.seq)"
        )
        params.extend(pair)
    if filters.created_after is not None:
        where.append("a.created_at >= ?")
        params.append(filters.created_after)
    if filters.created_before is not None:
        where.append("a.created_at < ?")
        params.append(filters.created_before)
    return where, params
