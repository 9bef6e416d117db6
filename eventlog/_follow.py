"""Following a log that other processes write too: which positions this process knows of
(the frontier), and a thread that reads the others' events as they commit (the follower).

A process knows its own commits as it makes them; the writer tells the frontier their
positions. Everything else in the log was written by another process, and the follower
reads it: it polls the log's head (a tiny query) and reads only what lies between the
positions this process knows, so a process alone on its log reads nothing back.
A read that must reflect every commit made anywhere before it began (semantics §8)
asks ``covers(head)`` with the head read at its start, and waits for the follower when
it is false.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from eventlog._types import Head, LogClosed, RecordedEvent

_log = logging.getLogger("eventlog")

# The follower looks at the head this often when nothing asks it to look sooner.
POLL_INTERVAL = 0.005


class Frontier:
    """How far this process's view of the log reaches, shared by the writer, the follower
    and whoever applies the events the follower reads.

    ``covered``: every position up to it is either this process's own commit or a
    foreign event that was applied (``applied``). Own commits past a foreign gap wait
    in a list until the follower has filled the gap. Deletions (``delete_streams``) are
    counted the same way: this process's own, or seen and applied.
    """

    def __init__(self, head: Head) -> None:
        self._lock = threading.Lock()
        self._covered = head.position
        self._deletions = head.deletions
        self._own: list[tuple[int, int]] = []  # committed here, beyond a gap, in order
        self._committing: tuple[int, int] | None = None
        self._changed = threading.Condition(self._lock)

    @property
    def covered(self) -> int:
        return self._covered

    @property
    def deletions(self) -> int:
        return self._deletions

    # -- the writer ----------------------------------------------------------------

    def committing(self, first: int, last: int) -> None:
        """A transaction storing positions ``first`` to ``last`` is about to COMMIT."""
        with self._lock:
            self._committing = (first, last)

    def committed(self, ok: bool) -> None:
        """The COMMIT announced by ``committing`` succeeded (or failed: its positions
        were never stored and will be given again)."""
        with self._lock:
            span, self._committing = self._committing, None
            if ok and span is not None:
                self._own.append(span)
                self._absorb()

    def deleted_here(self) -> None:
        """This process deleted streams (one more deletion in the log's count)."""
        with self._lock:
            # Another process's deletion before this one still shows: the log's count
            # is then ahead of this one, and the follower reports it.
            self._deletions += 1
            self._changed.notify_all()

    # -- the follower and its consumer ---------------------------------------------------

    def covers(self, head: Head) -> bool:
        """Whether every event up to ``head`` is known here, and every deletion counted."""
        with self._lock:
            if head.deletions > self._deletions:
                return False
            if head.position <= self._covered:
                return True
            span = self._committing
            # A commit under way, seen by a reader already: durable, and ours.
            return span is not None and span[0] == self._covered + 1 and head.position <= span[1]

    def foreign(self, head: Head) -> tuple[int, list[tuple[int, int]]]:
        """Where the events this process has not seen lie, up to ``head``: the position
        they come after, and this process's own spans among them (to leave out)."""
        with self._lock:
            own = [span for span in self._own if span[0] <= head.position]
            if self._committing is not None:  # seen by the head's reader, so it is stored
                own.append(self._committing)
            return self._covered, own

    def applied(self, head: Head) -> None:
        """Every foreign event up to ``head.position``, and every deletion it counts, has
        been applied: the frontier moves there (and on over own commits beyond it)."""
        with self._lock:
            self._covered = max(self._covered, head.position)
            self._deletions = max(self._deletions, head.deletions)
            self._own = [span for span in self._own if span[1] > self._covered]
            self._absorb()
            self._changed.notify_all()

    def wait_past(self, position: int, timeout: float) -> int:
        """Wait until the frontier is past ``position`` (a commit here, or another
        process's applied), at most ``timeout`` seconds; return where it is then."""
        with self._changed:
            self._changed.wait_for(lambda: self._covered > position, timeout)
            return self._covered

    def wait_covers(self, head: Head, timeout: float) -> bool:
        """Wait until ``covers(head)``; False if ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._covers_locked(head), timeout)

    def _covers_locked(self, head: Head) -> bool:
        return head.deletions <= self._deletions and head.position <= self._covered

    def _absorb(self) -> None:
        # Own spans that now continue the covered positions join them.
        own = self._own
        while own and own[0][0] <= self._covered + 1:
            self._covered = max(self._covered, own.pop(0)[1])
        self._changed.notify_all()


# consumer(events, head): the foreign events (in position order) up to ``head``; it
# applies them and then calls ``frontier.applied(head)``, on whichever thread it likes.
Consumer = Callable[[Sequence[RecordedEvent], Head], None]


class Follower:
    """A thread that reads the events other processes commit, and hands them on.

    It looks at the log's head every ``poll_interval`` seconds (or at once when
    ``poke``d), and when the frontier does not cover it, reads the foreign events up to
    it and calls ``consumer(events, head)`` (with no events when only deletions
    changed), at most ``chunk`` positions at a time. It does not read the same events
    twice: the next read starts where the last one ended, whether or not the consumer
    has applied it yet.
    """

    def __init__(
        self,
        read_head: Callable[[], Head],
        read_between: Callable[[int, int], Sequence[RecordedEvent]],
        frontier: Frontier,
        consumer: Consumer,
        *,
        poll_interval: float = POLL_INTERVAL,
        chunk: int = 5000,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._read_head = read_head
        self._read_between = read_between
        self._frontier = frontier
        self._consumer = consumer
        self._poll_interval = poll_interval
        self._chunk = chunk
        self._on_stop = on_stop
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._handed = Head(frontier.covered, frontier.deletions)
        self._thread = threading.Thread(target=self._run, name="eventlog-follower", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Look at the head now, not at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (idempotent); the consumer is not called after this returns."""
        self._stopped.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                self._wake.wait(self._poll_interval)
                self._wake.clear()
                if self._stopped.is_set():
                    break
                try:
                    self._step()
                except LogClosed:
                    # Closed under it, between the log's close and its stop: nothing is
                    # left to read, and nothing is wrong.
                    break
                except Exception:  # a busy or failing disk: look again at the next poll
                    _log.exception("the log follower could not read the log")
                    self._stopped.wait(0.1)
        finally:
            if self._on_stop is not None:
                self._on_stop()

    def _step(self) -> None:
        head = self._read_head()
        while not self._stopped.is_set() and self._hand_on(head):
            pass

    def _hand_on(self, head: Head) -> bool:
        """Hand the consumer the next stretch of foreign events up to ``head`` (at most
        ``chunk`` positions); whether more are left to hand on."""
        frontier = self._frontier
        handed_position, handed_deletions = self._handed
        if frontier.covers(head) or (
            head.position <= handed_position and head.deletions <= handed_deletions
        ):
            return False
        after, own = frontier.foreign(head)
        after = max(after, handed_position)
        upto = min(head.position, after + self._chunk)
        events: list[RecordedEvent] = []
        if upto > after:
            spans = iter(sorted(own))
            span = next(spans, None)
            for event in self._read_between(after, upto):
                position = event.position
                while span is not None and span[1] < position:
                    span = next(spans, None)
                if span is None or position < span[0]:
                    events.append(event)
        # Deletions are told with the last stretch: the consumer forgets what it cached.
        deletions = head.deletions if upto >= head.position else handed_deletions
        reached = Head(max(upto, handed_position), max(deletions, handed_deletions))
        self._handed = reached
        self._consumer(events, reached)
        return upto < head.position
