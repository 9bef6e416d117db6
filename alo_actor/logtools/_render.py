"""Text for a terminal: summaries, timelines, states, events and violations."""

from __future__ import annotations

from typing import Any

from alo_actor._machine import AloState
from alo_actor._model import Status
from alo_actor.logtools._decode import TIME_FIELDS, format_time, shorten, state_fields, to_json
from alo_actor.logtools._read import LogSummary, Timeline
from alo_actor.logtools._verify import Violation


def value_text(value: Any, short: bool = True) -> str:
    """A value as compact JSON, shortened unless ``short`` is false."""
    return to_json(shorten(value) if short else value).decode()


def _field_text(name: str, value: Any, short: bool) -> str:
    if name in TIME_FIELDS and isinstance(value, float):
        return format_time(value)
    return value_text(value, short)


def fields_text(fields: dict[str, Any], short: bool = True) -> str:
    """``name=value`` pairs on one line, times as RFC 3339."""
    return "  ".join(f"{name}={_field_text(name, v, short)}" for name, v in fields.items())


def _int(n: int) -> str:
    return f"{n:,}"


def render_summary(summary: LogSummary) -> str:
    """The summary as a few labelled lines and a table of operations by status."""
    lines = [
        f"log          {summary.path}",
        f"events       {_int(summary.events)} (positions "
        f"{_int(summary.first_position)}..{_int(summary.last_position)})",
        f"ALOs         {_int(summary.alos)}",
    ]
    if summary.first_recorded_at is not None:
        lines += [
            f"first event  {format_time(summary.first_at)}"
            f" (stored {format_time(summary.first_recorded_at)})",
            f"last event   {format_time(summary.last_at)}"
            f" (stored {format_time(summary.last_recorded_at)})",
        ]
        if summary.first_at is not None and summary.last_at is not None:
            lines.append(f"span         {summary.last_at - summary.first_at:.3f} s")
    if not summary.operations:
        return "\n".join(lines)
    statuses = [s.value for s in Status if s.value in summary.by_status]
    rows = [["operation", "total", *statuses]]
    for op in summary.operations:
        name = "(external)" if op.operation is None else op.operation
        rows.append([name, _int(op.total), *(_int(op.by_status.get(s, 0)) for s in statuses)])
    rows.append(["all", _int(summary.alos), *(_int(summary.by_status[s]) for s in statuses)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines.append("")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_timeline(timeline: Timeline, short: bool = True) -> str:
    """The ALO's state in one line, then one line per event."""
    state = timeline.state
    if state is None:
        head = f"ALO {timeline.id!r}: cannot fold its events ({timeline.error})"
    else:
        head = f"ALO {timeline.id!r}: {render_state(state)}"
    lines = [head, f"{'pos':>8}  {'ver':>4}  {'at':<24}  event"]
    for entry in timeline.entries:
        if entry.fields is None:
            body = f"{entry.type}  <{entry.error}>"
        else:
            body = f"{entry.type}  {fields_text(entry.fields, short)}".rstrip()
        lines.append(
            f"{entry.position:>8}  {entry.version:>4}  {format_time(entry.at):<24}  {body}"
        )
    return "\n".join(lines)


def render_state(state: AloState) -> str:
    """One line: status, id, operation, attempt, times, and the failure if any."""
    parts = [
        f"{state.status.value:<9}",
        f"id={value_text(state.id)}",
        f"operation={value_text(state.operation)}",
        f"attempt={state.attempt}",
        f"version={state.version}",
        f"created={format_time(state.created_at)}",
    ]
    if state.settled_at is not None:
        parts.append(f"settled={format_time(state.settled_at)}")
    if state.deadline is not None:
        parts.append(f"deadline={format_time(state.deadline)}")
    if state.failure is not None:
        parts.append(f"failure={value_text(state.failure.message)}")
    return "  ".join(parts)


def render_state_detail(state: AloState, short: bool = True) -> str:
    """Every field of the state on a line of its own."""
    fields = state_fields(state)
    width = max(map(len, fields))
    return "\n".join(
        f"{name:<{width}}  {_field_text(name, v, short)}" for name, v in fields.items()
    )


def render_record(record: dict[str, Any], short: bool = True) -> str:
    """One exported event (``event_record``) on one line."""
    data = record["data"]
    where = f"{record['position']:>8}  {record['stream_id']}  v{record['version']}"
    if data is None:
        return f"{where}  {record['type']}  <{record.get('error')}>"
    fields = {k: v for k, v in data.items() if k != "at"}
    body = fields_text(fields, short)
    return f"{where}  {format_time(data['at'])}  {record['type']}  {body}".rstrip()


def render_violation(violation: Violation) -> str:
    """``position N: ALO 'id' [invariant] message``."""
    return (
        f"position {violation.position}: ALO {violation.stream_id!r} "
        f"[{violation.invariant}] {violation.message}"
    )
