"""The errors the log tools raise for input they cannot work with."""

from __future__ import annotations


class LogToolsError(Exception):
    """Base class of the log tools' own errors (the log's errors come from ``eventlog``)."""


class UnknownAlo(LogToolsError):
    """The log holds no ALO with this id."""


class BadPoint(LogToolsError):
    """A replay point that is neither a position in the log nor a time."""


class InconsistentLog(LogToolsError):
    """The log holds events that cannot be folded into states (``verify`` says which)."""
