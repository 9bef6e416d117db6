"""Listing ALOs (semantics §6): filters, opaque cursors, and the query over the read model.

A page is one SELECT on the ``alos`` projection, so it shows committed state only.
Pages follow ``seq`` (creation order, assigned at commit and never reused): a cursor
is the last ``seq`` shown, so a page neither skips nor repeats an ALO while others
are being created; ALOs created meanwhile appear on later pages.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from alo_actor._errors import InvalidArgument
from alo_actor._model import AloInfo, Status
from alo_actor._validate import check_metadata
from alo_actor.readmodel._dialect import Source, dialect_of
from alo_actor.readmodel._plan import plan
from alo_actor.readmodel._projection import SELECT_COLUMNS, info_of_row

MAX_LIMIT = 1000
# The most ALOs one query of ``infos_of`` names (each id is one parameter).
INFOS_PER_QUERY = 500
MAX_CURSOR_LENGTH = 200
_CURSOR_VERSION = 1
_STATUS_WORDS = tuple(status.value for status in Status)

StatusFilter = Status | str | Iterable[Status | str] | None
TimeBound = float | int | datetime.datetime | None


class AloPage(msgspec.Struct, frozen=True):
    """One page of ``list``: infos in creation order, and the next page's cursor.

    ``next_cursor`` is ``None`` when nothing follows; otherwise pass it as
    ``cursor=`` with the same filters to read on.
    """

    items: list[AloInfo]
    next_cursor: str | None


class Filters(msgspec.Struct, frozen=True):
    """Validated, normalized filters: equal filters have equal fingerprints."""

    statuses: tuple[str, ...] | None = None
    operation: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    created_after: float | None = None
    created_before: float | None = None

    def fingerprint(self) -> int:
        return zlib.crc32(msgspec.msgpack.encode(self))


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    version: int
    seq: int
    filters: int


# -- validation -----------------------------------------------------------------------


def make_filters(
    status: StatusFilter = None,
    operation: str | None = None,
    metadata: Mapping[str, str] | None = None,
    created_after: TimeBound = None,
    created_before: TimeBound = None,
) -> Filters:
    """Check and normalize the filters; a mistake raises InvalidArgument, never hides."""
    if operation is not None and (not isinstance(operation, str) or not operation):
        raise InvalidArgument("operation filter must be a non-empty string")
    pairs = tuple(sorted(check_metadata(metadata, "metadata filter").items()))
    after = check_time(created_after, "created_after")
    before = check_time(created_before, "created_before")
    if after is not None and before is not None and after >= before:
        raise InvalidArgument(
            f"created_after ({after}) must be before created_before ({before}): the range is empty"
        )
    return Filters(parse_statuses(status), operation, pairs, after, before)


def parse_statuses(status: StatusFilter) -> tuple[str, ...] | None:
    """Status words, from a Status, a word (``"running"``, ``"running,paused"``) or several."""
    if status is None:
        return None
    items: Iterable[Any]
    if isinstance(status, str):  # a Status is a str too
        items = (status,)
    elif isinstance(status, Iterable):
        items = status
    else:
        raise InvalidArgument(f"status must be a Status, a word or several, not {status!r}")
    words: set[str] = set()
    for item in items:
        if isinstance(item, Status):
            words.add(item.value)
            continue
        if not isinstance(item, str):
            raise InvalidArgument(f"status must be a Status or a word, not {item!r}")
        for part in item.split(","):
            word = part.strip().lower()
            if word not in _STATUS_WORDS:
                raise InvalidArgument(
                    f"unknown status {part.strip()!r}: expected {', '.join(_STATUS_WORDS)}"
                )
            words.add(word)
    if not words:
        raise InvalidArgument("status filter names no status (leave it out to list all)")
    return tuple([word for word in _STATUS_WORDS if word in words])  # (see EntityHost)


def check_time(value: TimeBound, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise InvalidArgument(f"{name} is a datetime without a time zone")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{name} must be seconds (a number) or a datetime, not {value!r}")
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite, not {value}")
    return float(value)


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgument(f"limit must be an integer, not {limit!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
    return limit


# -- cursors --------------------------------------------------------------------------


def encode_cursor(seq: int, filters: Filters) -> str:
    data = msgspec.msgpack.encode(_Cursor(_CURSOR_VERSION, seq, filters.fingerprint()))
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_cursor(cursor: Any, filters: Filters) -> int:
    """The ``seq`` a cursor continues after; InvalidArgument for anything else."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
        raise InvalidArgument("malformed cursor: pass back a next_cursor as it was given")
    try:
        data = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        decoded = msgspec.msgpack.decode(data, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidArgument("malformed cursor: pass back a next_cursor as it was given") from None
    if decoded.version != _CURSOR_VERSION or decoded.seq < 0:
        raise InvalidArgument("malformed cursor: pass back a next_cursor as it was given")
    if decoded.filters != filters.fingerprint():
        raise InvalidArgument(
            "cursor belongs to a listing with other filters: repeat the filters it was "
            "given with, or start again without a cursor"
        )
    return decoded.seq


# -- the query ------------------------------------------------------------------------


def list_alos(
    source: Source,
    *,
    status: StatusFilter = None,
    operation: str | None = None,
    metadata: Mapping[str, str] | None = None,
    created_after: TimeBound = None,
    created_before: TimeBound = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AloPage:
    """One page of the ALOs that pass every filter, in creation order (semantics §6), read
    from ``source``: a log (``EventLog``) or a reader (``LogReader``, read-only)."""
    filters = make_filters(status, operation, metadata, created_after, created_before)
    limit = check_limit(limit)
    after = 0 if cursor is None else decode_cursor(cursor, filters)
    select = plan(source, filters, after, limit + 1)
    if select is None:
        return AloPage([], None)
    rows = source.query(*select)
    items = [info_of_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return AloPage(items, encode_cursor(rows[limit - 1][0], filters) if more else None)


def infos_of(source: Source, ids: Sequence[str]) -> dict[str, AloInfo]:
    """The info of each ALO of ``ids`` that has a row in the read model (a purged one
    has none), committed state only, read ``INFOS_PER_QUERY`` ids a query. Unlike the
    engine's ``get_info``, it sends the ALO no command: reading never enforces a
    deadline that has passed (its timer does, and that is a change of its own)."""
    mark = dialect_of(source).marks
    infos: dict[str, AloInfo] = {}
    for at in range(0, len(ids), INFOS_PER_QUERY):
        some = ids[at : at + INFOS_PER_QUERY]
        # A row's seq is the position of its ALO's first event (see the projection).
        rows = source.query(
            f"SELECT {SELECT_COLUMNS} FROM alos WHERE seq IN (SELECT position FROM events "
            f"WHERE version = 1 AND stream_id IN ({mark(len(some))}))",
            some,
        )
        for row in rows:
            info = info_of_row(row)
            infos[info.id] = info
    return infos
