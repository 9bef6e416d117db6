"""Waking the follower when another process commits: LISTEN on the log's channel.

Every commit that moves the head sends a NOTIFY without a payload, in its own
transaction (PostgreSQL delivers it at COMMIT, and only then). The listener pokes
the follower for each one another process sent; the follower reads the head and
the rows itself, so a notification carries nothing that could be lost or stale.
One that is missed (the listening connection dropped, the server restarted) costs
only latency: the follower still looks at the head at its poll interval, and looks
again as soon as the listener is connected again.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any

import psycopg

_log = logging.getLogger("eventlog")

# Seconds between attempts to connect again after the listening connection dropped.
RETRY = 0.5


class Listener:
    """A thread holding a connection that LISTENs on ``channel``; it calls ``poke()``
    for every notification not sent by the server process ``own_pid()`` (this
    process's writer), and once each time it (re)connects."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        listen: str,
        poke: Callable[[], None],
        own_pid: Callable[[], int],
    ) -> None:
        self._connect = connect
        self._listen = listen
        self._poke = poke
        self._own_pid = own_pid
        self._stopped = threading.Event()
        # A pipe that wakes the thread from its select at once when it is stopped.
        self._wake_read, self._wake_write = os.pipe()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventlog-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        os.write(self._wake_write, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    self._listen_once()
                except (psycopg.Error, OSError):
                    if self._stopped.is_set():
                        break
                    _log.warning("the log's listener lost its connection; connecting again")
                self.connected.clear()
                self._stopped.wait(RETRY)
        finally:
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _listen_once(self) -> None:
        conn = self._connect()
        try:
            conn.execute(self._listen)
            self.connected.set()
            self._poke()  # whatever was committed while no one listened
            while not self._stopped.is_set():
                readable, _, _ = select.select([conn.fileno(), self._wake_read], [], [])
                if self._wake_read in readable:
                    return
                own = self._own_pid()
                foreign = False
                for notify in conn.notifies(timeout=0):
                    foreign = foreign or notify.pid != own
                if foreign:
                    self._poke()
        finally:
            conn.close()
