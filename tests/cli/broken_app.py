"""An ``--app`` module that fails while it is imported."""

from __future__ import annotations

GATEWAY = int("not a number")
