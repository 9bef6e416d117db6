"""A Python client for ``alo serve``: AloSystem's verbs, types and errors, over HTTP.

``AloClient`` (blocking) and ``AsyncAloClient`` (asyncio) on httpx. Moving code from
an embedded system to a server is one line::

    system = AloSystem.open("alo.db")            # embedded
    system = AloClient("http://127.0.0.1:8080")  # remote: the same calls

``ServiceError`` is what only a remote call can meet (401, 5xx).
"""

from __future__ import annotations

from alo_actor.client._async import AsyncAloClient
from alo_actor.client._protocol import DEFAULT_URL, ServiceError
from alo_actor.client._sync import AloClient

__all__ = ["DEFAULT_URL", "AloClient", "AsyncAloClient", "ServiceError"]
