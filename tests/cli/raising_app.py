"""An ``--app`` whose setup raises, as a misconfigured one does."""

from __future__ import annotations

from alo_actor import AloSystem


def register(system: AloSystem) -> None:
    raise RuntimeError("no payment gateway configured")
