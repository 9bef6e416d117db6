"""What the console's test modules share: an ``alo serve`` for a module, fresh ids."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.http.conftest import Served


@contextlib.contextmanager
def alo_serve(folder: Path, *args: str) -> Iterator[Served]:
    """``alo serve`` over a log in ``folder``, with ``args``, until the block ends."""
    served = Served(folder / "alo.db", list(args)).start()
    try:
        yield served
    finally:
        served.stop()


def fresh(prefix: str = "alo") -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
