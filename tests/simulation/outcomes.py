"""What the log says at the end of a run, and the checks of result-URL deliveries and
subscribers against it (semantics §5)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import msgspec

from alo_actor._events import (
    CODEC,
    TERMINAL_EVENTS,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    DeliveryAbandoned,
    Started,
)
from eventlog import LogReader
from tests.simulation.execute import Executor, Notice
from tests.simulation.protocol import Info, Raised
from tests.simulation.receiver import GONE, Post

_DELIVERY_RECORDS = frozenset(("Delivered", "DeliveryAbandoned"))
_STATUS_OF = {
    t.__name__: t.__name__.lower().replace("timedout", "timed_out") for t in TERMINAL_EVENTS
}


@dataclass
class LogFacts:
    events: int = 0
    urls: dict[str, list[str]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # settled ALOs only
    settled_at: dict[str, float] = field(default_factory=dict)
    settled_position: dict[str, int] = field(default_factory=dict)  # of the terminal event
    result: dict[str, Any] = field(default_factory=dict)
    records: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)


def read_log(path: str) -> LogFacts:
    facts = LogFacts()
    with LogReader.open(path) as reader:
        for recorded in reader.read_all():
            facts.events += 1
            event = CODEC.decode(recorded.data)
            alo_id = recorded.stream_id
            name = type(event).__name__
            if isinstance(event, Started):
                facts.urls[alo_id] = list(event.result_urls)
            elif name in _STATUS_OF:
                facts.status[alo_id] = _STATUS_OF[name]
                facts.settled_at[alo_id] = event.at
                facts.settled_position[alo_id] = recorded.position
                raw = getattr(event, "result", None)
                facts.result[alo_id] = None if raw is None else msgspec.msgpack.decode(raw)
            elif isinstance(event, Delivered | DeliveryAbandoned):
                facts.records[alo_id].append((name, event.url))
            elif isinstance(event, DeliveriesFinished):
                facts.records[alo_id].append((name, ""))
            owed = isinstance(event, DeliveriesDue | DeliveriesFinished)
            if (owed or name in _DELIVERY_RECORDS) and alo_id not in facts.status:
                facts.problems.append(f"ALO {alo_id}: {name} before it settled")
    return facts


def check_deliveries(
    facts: LogFacts,
    posts: list[Post],
    base_url: str,
    faults: list[int],
    dead_senders: Collection[int] = (),
) -> list[str]:
    """Each outcome owed to a URL: delivered exactly once, or recorded abandoned.

    More than one accepted POST is allowed only if a fault (``faults``: when a close
    or a kill ended) came after the first, or the first came from a process that was
    killed (``dead_senders``: the ports of its connections; the receiver may answer
    a POST after its sender died): a kill may leave an accepted POST unrecorded, and
    so, today, may a clean close (test_regressions.py shows it).
    """
    problems = list(facts.problems)
    status, result, records = facts.status, facts.result, facts.records
    accepted: dict[tuple[str, str], list[Post]] = defaultdict(list)
    for post in posts:
        url = base_url + post.path
        if post.alo_id not in status:
            problems.append(f"ALO {post.alo_id}: POST to {url} before it settled (or unknown)")
            continue
        if post.body.get("status") != status[post.alo_id]:
            problems.append(
                f"ALO {post.alo_id}: POST says {post.body.get('status')}, "
                f"the log {status[post.alo_id]}"
            )
        if status[post.alo_id] == "completed" and post.body.get("result") != result[post.alo_id]:
            problems.append(f"ALO {post.alo_id}: POST result differs from the stored result")
        if 200 <= post.answered < 300:
            accepted[post.alo_id, url].append(post)
    for alo_id, owed in facts.urls.items():
        if alo_id not in status or not owed:
            continue
        recs = records[alo_id]
        finished = [r for r in recs if r[0] == "DeliveriesFinished"]
        if not recs or recs[-1][0] != "DeliveriesFinished" or len(finished) != 1:
            problems.append(f"ALO {alo_id}: deliveries not finished exactly once: {recs}")
        for url in owed:
            kinds = [kind for kind, u in recs if u == url]
            if len(kinds) != 1:
                problems.append(f"ALO {alo_id}: {url} recorded {kinds}, not exactly once")
                continue
            got = accepted.get((alo_id, url), [])
            late_fault = bool(got) and (
                any(f >= got[0].at_ns for f in faults) or got[0].peer in dead_senders
            )
            if kinds[0] == "Delivered":
                if not got:
                    problems.append(f"ALO {alo_id}: {url} recorded Delivered, never accepted")
                elif len(got) > 1 and not late_fault:
                    problems.append(
                        f"ALO {alo_id}: {url} accepted {len(got)} POSTs, no fault since the "
                        f"first{_since_fault(got, faults)}"
                    )
            elif got and not late_fault:
                problems.append(f"ALO {alo_id}: {url} abandoned after an accepted POST")
            elif url.endswith(GONE) and not faults:
                tries = [p for p in posts if p.alo_id == alo_id and base_url + p.path == url]
                if len(tries) != 1:
                    problems.append(f"ALO {alo_id}: {url} (404) was POSTed {len(tries)} times")
    return problems


def _since_fault(posts: list[Post], faults: list[int]) -> str:
    before = [f for f in faults if f < posts[0].at_ns]
    if not before:
        return ""
    gaps = ", ".join(f"{(p.at_ns - max(before)) / 1e6:.1f}" for p in posts)
    return f" (accepted {gaps} ms after the last restart)"


def check_subscriptions(
    executor: Executor, facts: LogFacts, generations: dict[int, int], seen_upto: int
) -> list[str]:
    """Each subscriber is called at most once, with the outcome, once it is durable;
    exactly once if its system lived to see the outcome.

    A subscription lives in one system: a slot's system of one generation. It lived to
    see the outcome if it is the slot's last generation (open until the end) and the
    outcome's position is at most ``seen_upto``, the head once every system had caught
    up with the log for the last time (outcomes committed while the systems closed at
    the end, by attempts handed over from one closing, may come too late for some).
    """
    problems: list[str] = []
    called: dict[str, list[Notice]] = defaultdict(list)
    for notice in executor.notices:
        called[notice.key].append(notice)
    for key, made in executor.subscribed.items():
        alo_id = made.alo_id
        got = called.pop(key, [])
        answer = executor.subscriptions_answered.get(key)
        what = f"ALO {alo_id}: subscriber {key}"
        if len(got) > 1:
            problems.append(f"{what} called {len(got)} times")
        for notice in got:
            if (notice.info.status, notice.info.settled_at) != (
                facts.status.get(alo_id),
                facts.settled_at.get(alo_id),
            ):
                problems.append(f"{what} called with {notice.info.status}, not the outcome")
            if notice.durable is False:
                problems.append(f"{what} called before the outcome was in the log")
        if isinstance(answer, Raised) and got:
            problems.append(f"{what} called, though subscribe raised {answer.error}")
        lived = isinstance(answer, Info) and made.generation == generations.get(made.slot)
        seen = facts.settled_position.get(alo_id, seen_upto + 1) <= seen_upto
        if not got and lived and seen:
            problems.append(f"{what} never called; the outcome is {facts.status[alo_id]}")
    for key in called:
        problems.append(f"a subscriber {key} that was never subscribed was called")
    return problems
