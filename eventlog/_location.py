"""Where a log lives: a SQLite file's path, or a PostgreSQL URL."""

from __future__ import annotations

import os
import re
from typing import Literal

Backend = Literal["sqlite", "postgresql"]

_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def backend_of(location: str | os.PathLike[str]) -> Backend:
    """``"postgresql"`` for a ``postgresql://`` or ``postgres://`` URL, else ``"sqlite"``
    (a path, or ``":memory:"``)."""
    if isinstance(location, str) and location.lower().startswith(_SCHEMES):
        return "postgresql"
    return "sqlite"


def shown(location: str | os.PathLike[str]) -> str:
    """``location`` as messages show it: a URL without its password."""
    text = os.fspath(location)
    if backend_of(text) == "postgresql":
        text = _PASSWORD.sub(r"\1***@", text)
        text = re.sub(r"([?&]password=)[^&]*", r"\1***", text)
    return text
