"""The errors of the ALO contract (semantics §2), each carrying a Failure."""

from __future__ import annotations

from alo_actor._model import Failure


class AloError(Exception):
    """Base class of every error the ALO API raises."""

    def __init__(self, message: str, failure: Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure or Failure(message=message, type=type(self).__name__)


class AlreadyExists(AloError):
    """An ALO with this id exists with a different operation, input, metadata or URLs."""


class NotFound(AloError):
    """No ALO has this id (or no handler has this operation name)."""


class InvalidArgument(AloError):
    """A malformed or oversized argument; nothing was written."""


class PayloadTooLarge(InvalidArgument):
    """An input, result or failure's details over the stored-size limit (the HTTP API
    answers it 413); nothing was written."""


class OperationFailed(AloError):
    """The ALO settled unsuccessfully; ``.failure`` says how."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message, failure)


class OperationCancelled(OperationFailed):
    """The ALO was cancelled."""


class OperationTimedOut(OperationFailed):
    """The ALO's deadline passed before it settled."""


class SystemClosed(AloError):
    """The system was closed; no more commands are accepted."""


class Unavailable(AloError):
    """The log cannot be written now: the message names why (the disk is full, the file
    is read-only, an I/O error, its WAL file was deleted). Nothing of the command was
    written; the same call succeeds once the cause is gone (a lost WAL file needs the
    system reopened). Reads go on working."""
