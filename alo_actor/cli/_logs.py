"""``alo serve --log-format``: uvicorn's and the engine's log lines, as text or JSON Lines.

In JSON each line is one object: ``time`` (RFC 3339), ``level``, ``logger``,
``message``, ``alo_id`` when the line is about one ALO, and ``exception`` with a
traceback when there is one. The ALO id comes from the record (the engine's lines
pass ``extra={"alo_id": ...}``; the actor host's name it ``entity_id``), or from a
``/v1/alos/{id}`` path among its arguments (access lines, request errors).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

import msgspec

from alo_actor._times import rfc3339

_PATH = re.compile(r"/v1/alos/([^/?#\s]+)")
_encoder = msgspec.json.Encoder()


def alo_id_of(record: logging.LogRecord) -> str | None:
    """The id of the ALO a log record is about, if it is about one."""
    for attribute in ("alo_id", "entity_id"):
        value = getattr(record, attribute, None)
        if isinstance(value, str):
            return value
    args = record.args if isinstance(record.args, tuple) else ()
    for arg in args:
        if isinstance(arg, str) and "/v1/alos/" in arg:
            match = _PATH.search(arg)
            if match is not None:
                return unquote(match.group(1))
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        alo_id = alo_id_of(record)
        if alo_id is not None:
            entry["alo_id"] = alo_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def log_config(log_format: str, level: str) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for ``log_format``; None keeps uvicorn's own (text)."""
    if log_format == "text":
        return None
    formatter = {"()": f"{__name__}.JsonFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
        # The engine's loggers (alo_actor, actors, eventlog) reach the root.
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
