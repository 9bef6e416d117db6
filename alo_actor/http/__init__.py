"""The HTTP service of http.md: a Litestar app around one AloSystem (``alo serve`` runs it)."""

from __future__ import annotations

from alo_actor.http._app import create_app
from alo_actor.http._durations import parse_duration
from alo_actor.http._nexus import NexusOptions

__all__ = ["NexusOptions", "create_app", "parse_duration"]
