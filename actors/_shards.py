"""Shard ownership for a group of processes sharing one log: who hosts the effects of
which entities (semantics §8), by leases the log stores.

Every stream has a shard (``log.shard_of``). Each member (one per hosting process)
heartbeats the log, which renews its leases; each round it works out which shards it
should hold by rendezvous hashing over the live members (each shard goes to the member
with the highest score for it, so a member joining or leaving moves only the shards
that must move), claims those that are free, lapsed, or held by a member known dead,
and releases those another live member should hold (which claims them on its next
round). A claim bumps the lease's epoch; appends made for the holder carry
``(shard, epoch)`` as their fence, so a former holder's writes are refused.

A member regards a lease as its own only until a margin before the log's expiry of it,
counted from when it asked for the renewal, so it gives up (stops its attempts) before
any other member may claim the shard.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from eventlog import Claim, EventLog, Lease, LogUnwritable, Member, Membership

_log = logging.getLogger("actors.shards")

DEFAULT_LEASE_SECONDS = 5.0
# A lease is held locally for this share of its time after its renewal was asked for.
_VALIDITY = 0.8
# Heartbeats per lease time: a holder renews well before its lease lapses.
_BEATS_PER_LEASE = 5
# How often the leases are looked at (a read) between heartbeats, to claim at once what
# another member released on its way out.
_LOOK_INTERVAL = 0.1

_HOST = socket.gethostname()

# Members hosted by this process and still running: a member of this pid that is not
# here has stopped (a system left open and dropped, or one that failed to start).
_running_here: set[str] = set()
_running_lock = threading.Lock()


def _start_ticks(pid: int) -> int | None:
    """When the process ``pid`` started (clock ticks since boot), None if it is gone, or
    has ended and waits only to be reaped (a zombie: it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(b")", 1)[1].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _score(shard: int, member: str) -> bytes:
    return hashlib.blake2b(f"{shard}/{member}".encode(), digest_size=8).digest()


def preferred(shard: int, members: Collection[str]) -> str | None:
    """The member that should hold ``shard`` among ``members`` (rendezvous hashing)."""
    return max(members, key=lambda member: _score(shard, member), default=None)


class Shards:
    """One member's view of the group: the shards it holds, kept by a heartbeat thread.

    ``on_claimed(claims)`` and ``on_lost(shards)`` are called on the heartbeat thread
    (and, for the first round, on the thread that calls ``start``); neither may block for
    long. ``executes()`` says whether this member can run the work (entities' effects):
    members that cannot take shards only when no member can. ``busy(shards)`` counts the
    work still running in those shards: a member giving shards up (to a member joining,
    or on its way out) waits, up to a grace of half a lease, until it is done, so that
    the next holder's work never overlaps its own.
    """

    def __init__(
        self,
        log: EventLog,
        *,
        on_claimed: Callable[[Sequence[Claim]], None],
        on_lost: Callable[[Collection[int]], None],
        executes: Callable[[], bool] = lambda: True,
        busy: Callable[[Collection[int]], int] = lambda shards: 0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        self.log = log
        self.id = f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lease_seconds = float(lease_seconds)
        self._on_claimed = on_claimed
        self._on_lost = on_lost
        self._executes = executes
        self._busy = busy
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # shard -> epoch
        self._heads: dict[int, int] = {}  # shard -> the log's head when it was claimed
        self._valid_until = 0.0  # time.monotonic() until which the leases held are ours
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat_interval = self.lease_seconds / _BEATS_PER_LEASE

    # -- asked from any thread ------------------------------------------------------

    def epoch(self, shard: int) -> int | None:
        """The epoch of this member's lease of ``shard``, None if it does not hold it now."""
        epoch = self._held.get(shard)
        if epoch is None or time.monotonic() >= self._valid_until:
            return None
        return epoch

    def claimed_at(self, shard: int) -> int | None:
        """The log's head when this member claimed ``shard``, None if it does not hold it
        now: events up to it were committed before the claim, later ones after."""
        if self.epoch(shard) is None:
            return None
        return self._heads.get(shard)

    def fence(self, stream_id: str) -> tuple[int, int] | None:
        """``(shard, epoch)`` for an append made as the holder of the stream's shard,
        None if this member does not hold it."""
        shard = self.log.shard_of(stream_id)
        epoch = self.epoch(shard)
        return None if epoch is None else (shard, epoch)

    def owns(self, stream_id: str) -> bool:
        """Whether this member holds the shard of ``stream_id`` now."""
        return self.epoch(self.log.shard_of(stream_id)) is not None

    def held(self) -> dict[int, int]:
        """The shards held now, with their epochs."""
        if time.monotonic() >= self._valid_until:
            return {}
        with self._lock:
            return dict(self._held)

    def fenced(self, shard: int, epoch: int) -> None:
        """The log refused an append fenced with ``(shard, epoch)``: the lease is lost."""
        with self._lock:
            if self._held.get(shard) != epoch:
                return
            del self._held[shard]
        self._on_lost([shard])
        self._wake.set()

    def rebalance(self) -> None:
        """Run a round soon (after a change in what this member can execute, say)."""
        self._wake.set()

    # -- lifetime -----------------------------------------------------------------

    def start(self) -> None:
        """Join the group: the first round runs now (claims made before this returns),
        the rest on a thread of its own."""
        with _running_lock:
            _running_here.add(self.id)
        try:
            self._round()
        except LogUnwritable as exc:
            # A log that takes no writes now (read-only, full) can still be read: this
            # member claims its shards once a heartbeat gets through.
            _log.warning("member %s holds no shard yet: %s", self.id, exc)
        except BaseException:
            with _running_lock:
                _running_here.discard(self.id)
            raise
        self._thread = threading.Thread(target=self._run, name="alo-shards", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat, release every lease at once (a graceful stop hands the
        shards over) and tell ``on_lost``. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        with _running_lock:
            _running_here.discard(self.id)
        with self._lock:
            shards, self._held = list(self._held), {}
        if shards:
            self._on_lost(shards)
            if self._others:  # someone to hand over to: let them start clean
                self._drain(shards)
        with contextlib.suppress(Exception):  # a closed log or a failing disk
            self.log.leave(self.id)

    # -- the heartbeat ---------------------------------------------------------------

    def _run(self) -> None:
        next_beat = time.monotonic() + self._beat_interval
        while not self._stop.is_set():
            woken = self._wake.wait(max(0.0, min(_LOOK_INTERVAL, next_beat - time.monotonic())))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if woken or time.monotonic() >= next_beat or self._claimable():
                    next_beat = time.monotonic() + self._beat_interval
                    self._round()
                elif time.monotonic() >= self._valid_until and self._held:
                    self._lose_all()
            except Exception:
                _log.warning("member %s could not renew its leases", self.id, exc_info=True)
                if time.monotonic() >= self._valid_until:
                    self._lose_all()

    def _claimable(self) -> bool:
        """Whether a round should run now, not at the next heartbeat (a read): a shard
        this member should hold was released, or a holder on this host has died."""
        leases = self.log.leases()
        wanted = self._wanted
        if any(lease.owner is None and lease.shard in wanted for lease in leases):
            return True
        known = self._known
        holders = {lease.owner for lease in leases} - {None, self.id}
        return any(h in known and not _alive(known[h]) for h in holders)

    _wanted: frozenset[int] = frozenset()
    _known: dict[str, Member] = {}  # noqa: RUF012  (replaced whole, never changed)
    _others = 0  # live members besides this one, at the last round

    def _info(self) -> str:
        return json.dumps(
            {
                "host": _HOST,
                "pid": os.getpid(),
                # Read now, not at import: a forked process would give its parent's.
                "start": _start_ticks(os.getpid()),
                "executes": bool(self._executes()),
            }
        )

    def _round(self) -> None:
        asked = time.monotonic()
        seen = self.log.heartbeat(self.id, self._info(), self.lease_seconds)
        valid_until = asked + self.lease_seconds * _VALIDITY
        live = self._live(seen)
        self._others = len(live) - 1
        self._known = {member.id: member for member in seen.members}
        candidates = [m.id for m in live if _executes(m)] or [m.id for m in live]
        by_shard = {lease.shard: lease for lease in seen.leases}
        mine = {lease.shard: lease.epoch for lease in seen.leases if lease.owner == self.id}
        lost = self._settle_held(mine, valid_until)
        if lost:
            self._on_lost(lost)
        wanted = {s for s in by_shard if preferred(s, candidates) == self.id}
        self._wanted = frozenset(wanted)
        live_ids = {m.id for m in live}
        claim = {
            shard: by_shard[shard].epoch
            for shard in wanted - set(mine)
            if _free(by_shard[shard], seen.now, live_ids)
        }
        # Each goes to its preferred member, live by construction, on that one's next round.
        release = sorted(set(mine) - wanted)
        if release:
            with self._lock:
                for shard in release:
                    self._held.pop(shard, None)
            self._on_lost(release)
            self._drain(release)
            self.log.release(self.id, release)
        if claim and not self._stop.is_set():
            asked = time.monotonic()
            claims = self.log.claim(self.id, claim, self.lease_seconds)
            if claims:
                with self._lock:
                    for made in claims:
                        self._heads[made.lease.shard] = made.head
                        self._held[made.lease.shard] = made.lease.epoch
                self._on_claimed(claims)

    def _settle_held(self, mine: dict[int, int], valid_until: float) -> list[int]:
        """Take the heartbeat's word on the leases held; return those lost since."""
        with self._lock:
            lost = [s for s, e in self._held.items() if mine.get(s) != e]
            for shard in lost:
                del self._held[shard]
            # Leases the log says are ours but this member never claimed (a claim whose
            # answer was lost to an error): released, since nothing was recovered for them.
            stray = [s for s in mine if s not in self._held]
            self._valid_until = valid_until
        if stray:
            self.log.release(self.id, stray)
        return lost

    def _drain(self, shards: Collection[int]) -> None:
        """Wait until the work stopped in ``shards`` has ended, or half a lease passed."""
        deadline = time.monotonic() + self.lease_seconds / 2
        while self._busy(shards) and time.monotonic() < deadline:
            time.sleep(0.005)

    def _lose_all(self) -> None:
        with self._lock:
            shards, self._held = list(self._held), {}
        if shards:
            _log.warning("member %s lost its leases: no renewal in time", self.id)
            self._on_lost(shards)

    def _live(self, seen: Membership) -> list[Member]:
        return [member for member in seen.members if member.id == self.id or _alive(member)]


def _executes(member: Member) -> bool:
    info = _parsed(member)
    return bool(info.get("executes", True))


def _parsed(member: Member) -> dict[str, Any]:
    try:
        info = json.loads(member.info)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _alive(member: Member) -> bool:
    """Whether the member's process still runs, as far as this host can tell: a member
    on this host whose process is gone (or whose pid now names another process) is dead
    at once; elsewhere only its heartbeat's lapse tells."""
    info = _parsed(member)
    if info.get("host") != _HOST or not isinstance(info.get("pid"), int):
        return True
    pid = info["pid"]
    if pid == os.getpid():
        with _running_lock:
            return member.id in _running_here
    ticks = _start_ticks(pid)
    return ticks is not None and ticks == info.get("start")


def _free(lease: Lease, now: float, live: Collection[str]) -> bool:
    """Whether a lease may be claimed: free, lapsed, or held by a member known dead."""
    return lease.owner is None or lease.expires_at <= now or lease.owner not in live
