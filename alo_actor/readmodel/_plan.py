"""How a listing page is read from the projection: which index drives it, and its SQL.

Every index of the ``alos`` read model ends in ``seq``, so each filter can be read in
creation order from the cursor on, and a page stops after ``limit`` rows pass the
other filters. The work is the rows the driving index yields until then: the most
selective filter should drive, and a time range, whose index is not in ``seq``
order, narrows the ``seq`` range when it holds few ALOs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alo_actor.readmodel._dialect import Dialect, Source, dialect_of
from alo_actor.readmodel._projection import COLUMNS

if TYPE_CHECKING:
    from alo_actor.readmodel._listing import Filters

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


def plan(source: Source, filters: Filters, after: int, limit: int) -> tuple[str, list[Any]] | None:
    """The SELECT of one page (``SELECT_COLUMNS``, ``limit`` rows at most) after ``after``,
    in the dialect of ``source`` (a log or a reader), which it samples to choose.

    ``None`` when nothing can match (a time range with no ALO in it).
    """
    dialect = dialect_of(source)
    span = _span(source, dialect, filters, after)
    if span is None:
        return None
    return _select(dialect, filters, _driver(source, dialect, filters, span), span, limit)


def _span(source: Source, d: Dialect, filters: Filters, after: int) -> Span | None:
    """Exact seq bounds of the time range, when it holds few ALOs; else just the cursor.

    The whole range is counted, not only what follows the cursor: a late page of a
    big range must not read the range's early part to find that it is big.
    """
    where: list[str] = []
    params: list[Any] = []
    if filters.created_after is not None:
        where.append(f"created_at >= {d.mark}")
        params.append(filters.created_after)
    if filters.created_before is not None:
        where.append(f"created_at < {d.mark}")
        params.append(filters.created_before)
    if not where:
        return after, None
    count, least, most = source.query(
        f"SELECT COUNT(*), MIN(seq), MAX(seq) FROM (SELECT seq FROM alos"
        f"{d.indexed_by('alos_created')} WHERE {' AND '.join(where)} LIMIT {d.mark}) AS span",
        (*params, TIME_SAMPLE),
    )[0]
    if count == 0:
        return None
    if count >= TIME_SAMPLE:
        return after, None
    if most <= after:
        return None
    return max(after, least - 1), most


def _driver(source: Source, d: Dialect, filters: Filters, span: Span) -> Driver:
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
        high = source.query("SELECT COALESCE(MAX(seq), 0) FROM alos", ())[0][0]
    return min(candidates, key=lambda driver: _density(source, d, driver, low, high))


def _density(source: Source, d: Dialect, driver: Driver, low: int, high: int) -> float:
    kind, value = driver
    p = d.mark
    if kind == "pair":
        samples = [(f"alo_metadata WHERE key = {p} AND value = {p}", value)]
    elif kind == "operation":
        samples = [(f"alos{d.indexed_by('alos_operation')} WHERE operation = {p}", (value,))]
    else:
        samples = [
            (f"alos{d.indexed_by('alos_status')} WHERE status = {p}", (word,)) for word in value
        ]
    density = 0.0
    for table, params in samples:
        count, last = source.query(
            f"SELECT COUNT(*), MAX(seq) FROM (SELECT seq FROM {table} AND seq > {p} "
            f"AND seq <= {p} ORDER BY seq LIMIT {p}) AS sample",
            (*params, low, high, SAMPLE),
        )[0]
        span = (last if count >= SAMPLE else high) - low
        density += count / max(span, 1)
    return density


def _select(
    d: Dialect, filters: Filters, driver: Driver, span: Span, limit: int
) -> tuple[str, list[Any]]:
    kind, value = driver
    p = d.mark
    if kind == "status" and len(value) > 1:
        # One ordered read per status, merged: an IN over the index would have to
        # sort every match to find the first few.
        arms: list[str] = []
        params: list[Any] = []
        for i, word in enumerate(value):
            arm, arm_params = _select(d, filters, ("status", (word,)), span, limit)
            arms.append(f"SELECT * FROM ({arm}) AS arm{i}")
            params.extend(arm_params)
        params.append(limit)
        return " UNION ALL ".join(arms) + f" ORDER BY seq LIMIT {p}", params
    if kind == "pair":
        source = f"alo_metadata AS m {d.join} alos AS a ON a.seq = m.seq"
        head, head_params, seq = f"m.key = {p} AND m.value = {p}", list(value), "m.seq"
    elif kind == "operation":
        source = f"alos AS a{d.indexed_by('alos_operation')}"
        head, head_params, seq = f"a.operation = {p}", [value], "a.seq"
    elif kind == "status":
        source = f"alos AS a{d.indexed_by('alos_status')}"
        head, head_params, seq = f"a.status = {p}", [value[0]], "a.seq"
    else:
        source = f"alos AS a{d.not_indexed}"  # the rowid, in order; no index may sort it
        head, head_params, seq = "1 = 1", [], "a.seq"
    low, high = span
    head += f" AND {seq} > {p}"
    head_params.append(low)
    if high is not None:
        head += f" AND {seq} <= {p}"
        head_params.append(high)
    where, params = _checks(d, filters, driver)
    sql = (
        f"SELECT {_A_COLUMNS} FROM {source} WHERE {' AND '.join([head, *where])} "
        f"ORDER BY {seq} LIMIT {p}"
    )
    return sql, [*head_params, *params, limit]


def _checks(d: Dialect, filters: Filters, driver: Driver) -> tuple[list[str], list[Any]]:
    """The filters the driver does not already apply, as conditions on row ``a``."""
    kind, value = driver
    p = d.mark
    where: list[str] = []
    params: list[Any] = []
    if filters.statuses is not None and kind != "status":
        where.append(f"a.status IN ({d.marks(len(filters.statuses))})")
        params.extend(filters.statuses)
    if filters.operation is not None and kind != "operation":
        where.append(f"a.operation = {p}")
        params.append(filters.operation)
    for pair in filters.metadata:
        if kind == "pair" and pair == value:
            continue
        where.append(
            "EXISTS (SELECT 1 FROM alo_metadata AS x "
            f"WHERE x.key = {p} AND x.value = {p} AND x.seq = a.seq)"
        )
        params.extend(pair)
    if filters.created_after is not None:
        where.append(f"a.created_at >= {p}")
        params.append(filters.created_after)
    if filters.created_before is not None:
        where.append(f"a.created_at < {p}")
        params.append(filters.created_before)
    return where, params
