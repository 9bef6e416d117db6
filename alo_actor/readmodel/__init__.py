"""The read model: one row per ALO beside the log, for listing and retention.

``project`` gives the SQL that keeps a row in step with an append (committed in the
same transaction); ``ensure_projection`` and ``rebuild_projection`` create or fold the
tables again from the log; ``list_alos`` pages through them; ``purge`` and
``AutoPurge`` delete settled ALOs.
"""

from __future__ import annotations

from alo_actor.readmodel._listing import (
    AloPage,
    StatusFilter,
    TimeBound,
    list_alos,
)
from alo_actor.readmodel._projection import info_fields, project
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
    "StatusFilter",
    "TimeBound",
    "ensure_projection",
    "info_fields",
    "list_alos",
    "project",
    "purge",
    "reading",
    "rebuild_projection",
    "retention_seconds",
]
