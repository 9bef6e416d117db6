"""Batch verbs: many ALOs in one call (``start_many``, ``complete_many``, ``get_results``).

Each ALO is still its own command, with its own append and its own answer; what a batch
saves is the caller's side: one message to the supervisor, one future (or one blocked
thread) for the whole batch instead of one per ALO, and one wake-up when the answers
are in (``bench_core``'s batch flow; see the README's Benchmarks).

Answers come back in the order asked, one per item: what the single verb returns, or
the exception it would raise (as ``asyncio.gather(..., return_exceptions=True)``
does), so that one refused item never hides the others' outcomes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from actors import Gather
from alo_actor._errors import AloError, InvalidArgument
from alo_actor._machine import AloState, Command, Read
from alo_actor._model import AloInfo
from alo_actor._requests import complete_command, info_of, result_of, start_command
from alo_actor._supervisor import Ask, UnwaitMany
from alo_actor._validate import check_id

# The most items one batch may carry: a batch is one message to the supervisor and its
# answers one list, so its size bounds the memory a caller can make it hold at once.
MAX_BATCH = 10_000


class AloStart(NamedTuple):
    """One start of a batch (``start_many``): the arguments ``start`` takes."""

    id: str
    operation: str | None = None
    input: Any = None
    metadata: Mapping[str, str] | None = None
    result_urls: list[str] | None = None
    timeout: float | None = None
    deadline: float | None = None


class AloCompletion(NamedTuple):
    """One completion of a batch (``complete_many``): the arguments ``complete`` takes."""

    id: str
    result: Any = None
    result_metadata: Mapping[str, str] | None = None


class Plan(NamedTuple):
    """A batch checked and turned into commands: ``answers`` holds, in its place, the
    error of each item refused before it was sent; the rest are asked, the n-th of them
    item ``places[n]`` of the batch, for the ALO ``ids[n]``, with ``commands[n]``.

    Three lists, not a tuple per ask: the ids go to the supervisor as they are (one
    message's ``entity_ids``), and a batch in flight holds a hundred objects fewer for
    the garbage collector to walk (``bench_core``'s batch flow).
    """

    answers: list[Any]
    places: list[int]
    ids: list[str]
    commands: list[Command]


def _items(items: Iterable[Any], what: str) -> list[Any]:
    if isinstance(items, str | bytes | Mapping):
        raise InvalidArgument(f"{what} takes a sequence of items, not {type(items).__name__}")
    listed = list(items)
    if len(listed) > MAX_BATCH:
        raise InvalidArgument(f"{what} takes at most {MAX_BATCH} items, not {len(listed)}")
    return listed


def plan_starts(
    starts: Iterable[AloStart | Sequence[Any]],
    *,
    now: float,
    registered: Collection[str],
    allowed_hosts: Collection[str] | None,
) -> Plan:
    """The Start commands of a batch (each item an AloStart, or a tuple of its fields).
    Raises InvalidArgument if the batch itself is not a sequence of at most MAX_BATCH."""
    listed = _items(starts, "start_many")
    plan = Plan([None] * len(listed), [], [], [])
    answers, places, ids, commands = plan
    for index, item in enumerate(listed):
        try:
            start = item if isinstance(item, AloStart) else AloStart(*item)
            command = start_command(
                start.id,
                start.operation,
                start.input,
                start.metadata,
                start.result_urls,
                start.timeout,
                start.deadline,
                now=now,
                registered=registered,
                allowed_hosts=allowed_hosts,
            )
        except AloError as exc:
            answers[index] = exc
        except TypeError as exc:
            answers[index] = InvalidArgument(f"start_many item {index}: {exc}")
        else:
            places.append(index)
            ids.append(start.id)
            commands.append(command)
    return plan


def plan_completions(completions: Iterable[AloCompletion | Sequence[Any]]) -> Plan:
    """The Complete commands of a batch (each item an AloCompletion, or a tuple of its
    fields). Raises InvalidArgument for a batch that is not a sequence of items."""
    listed = _items(completions, "complete_many")
    plan = Plan([None] * len(listed), [], [], [])
    answers, places, ids, commands = plan
    for index, item in enumerate(listed):
        try:
            done = item if isinstance(item, AloCompletion) else AloCompletion(*item)
            command = complete_command(done.result, done.result_metadata)
            alo_id = check_id(done.id)
        except AloError as exc:
            answers[index] = exc
        except TypeError as exc:
            answers[index] = InvalidArgument(f"complete_many item {index}: {exc}")
        else:
            places.append(index)
            ids.append(alo_id)
            commands.append(command)
    return plan


def plan_reads(ids: Iterable[str]) -> Plan:
    """A Read for each id of a batch (``get_results``)."""
    listed = _items(ids, "get_results")
    plan = Plan([None] * len(listed), [], [], [])
    answers, places, checked, commands = plan
    read = Read()  # the same for every item: a Read holds nothing
    for index, alo_id in enumerate(listed):
        try:
            checked.append(check_id(alo_id))
        except AloError as exc:
            answers[index] = exc
        else:
            places.append(index)
            commands.append(read)
    return plan


def infos(
    plan: Plan, values: Sequence[Any], errors: Sequence[BaseException | None]
) -> list[AloInfo | BaseException]:
    """Each item's info (``created`` set as ``start`` sets it), or its error."""
    answers = list(plan.answers)
    for index, value, error in zip(plan.places, values, errors, strict=True):
        if error is not None:
            answers[index] = error
        else:
            answers[index] = info_of(value)
    return answers


def outcomes(
    plan: Plan,
    states: Sequence[AloState | None],
    errors: Sequence[BaseException | None],
    timeout: float | None,
) -> list[Any]:
    """Each item's result, or the error ``get_result`` raises for it: OperationFailed
    (and its kinds) for an unsuccessful outcome, NotFound, TimeoutError for one not
    settled (``None`` in ``states``)."""
    answers = list(plan.answers)
    for index, alo_id, state, error in zip(plan.places, plan.ids, states, errors, strict=True):
        if error is not None:
            answers[index] = error
        elif state is None or not state.terminal:
            answers[index] = TimeoutError(f"ALO {alo_id!r} did not settle within {timeout} s")
        else:
            try:
                answers[index] = result_of(state)
            except AloError as exc:
                answers[index] = exc
    return answers


def batch_asks(plan: Plan, gather: Gather, want: int) -> list[Ask]:
    """The plan's asks, answered into ``gather`` in the plan's order."""
    return [Ask(command, gather, want, None, n) for n, command in enumerate(plan.commands)]


def withdrawal(plan: Plan, gather: Gather) -> UnwaitMany:
    """The one message that withdraws the waits of a plan's reads (answered into
    ``gather``)."""
    return UnwaitMany(plan.ids, gather)
