"""The read model: one row per ALO beside the log, for listing and retention.

``projector(log)`` gives the ``project`` that keeps a row in step with an append
(committed in the same transaction), in the log's dialect (SQLite's or PostgreSQL's);
``ensure_projection`` and ``rebuild_projection`` create or fold the tables again from
the log; ``list_alos`` pages through them (from a log, or a read-only ``LogReader``
that ``reading`` opens); ``purge`` and ``AutoPurge`` delete settled ALOs.
"""

from __future__ import annotations

from alo_actor.readmodel._dialect import Dialect, Source, dialect_of
from alo_actor.readmodel._listing import (
    AloPage,
    StatusFilter,
    TimeBound,
    list_alos,
)
from alo_actor.readmodel._projection import Project, project, projector
from alo_actor.readmodel._retention import AutoPurge, purge, retention_seconds
from alo_actor.readmodel._schema import (
    OPEN_ALOS,
    ensure_projection,
    reading,
    rebuild_projection,
)

__all__ = [
    "OPEN_ALOS",
    "AloPage",
    "AutoPurge",
    "Dialect",
    "Project",
    "Source",
    "StatusFilter",
    "TimeBound",
    "dialect_of",
    "ensure_projection",
    "list_alos",
    "project",
    "projector",
    "purge",
    "reading",
    "rebuild_projection",
    "retention_seconds",
]
