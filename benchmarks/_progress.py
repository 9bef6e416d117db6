"""Progress lines on stderr with the elapsed time (a spinner too, when rich is installed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any


class Step:
    """One step in progress; set ``result`` to say what it measured."""

    def __init__(self) -> None:
        self.result = ""


class Progress:
    """``with progress.step("label") as step: ...; step.result = "12,000/s"``."""

    def __init__(self, *, fancy: bool = True) -> None:
        self._began = time.perf_counter()
        self._console: Any = None
        if fancy and sys.stderr.isatty():
            try:
                from rich.console import Console
            except ImportError:
                pass
            else:
                self._console = Console(stderr=True, highlight=False)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._began

    def line(self, text: str) -> None:
        stamp = f"[{self.elapsed:7.1f}s]"
        if self._console is not None:
            self._console.print(f"[dim]{stamp}[/dim] {text}", markup=True)
        else:
            print(f"{stamp} {text}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        step = Step()
        began = time.perf_counter()
        status: AbstractContextManager[Any] = (
            self._console.status(label) if self._console is not None else nullcontext()
        )
        if self._console is None:
            self.line(f"{label} ...")
        try:
            with status:
                yield step
        except BaseException:
            self.line(f"{label}: FAILED after {time.perf_counter() - began:.1f} s")
            raise
        took = time.perf_counter() - began
        self.line(
            f"{label}: {step.result} ({took:.1f} s)" if step.result else f"{label} ({took:.1f} s)"
        )
