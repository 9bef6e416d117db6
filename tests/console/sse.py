"""Reading a Server-Sent Events stream frame by frame (what EventSource does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    """One block of an event stream, up to its blank line."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def change(self) -> dict[str, Any]:
        """The JSON of a change event's ``data:``."""
        assert self.event == "change", self
        body: dict[str, Any] = json.loads("\n".join(self.data))
        return body


def frames(response: httpx.Response) -> Iterator[Frame]:
    """The stream's frames until it ends (each read bounded by the client's timeout)."""
    frame = Frame()
    for line in response.iter_lines():
        if not line:
            yield frame
            frame = Frame()
        elif line.startswith(":"):
            frame.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data.append(value)
            elif name == "retry":
                frame.retry = int(value)
    assert frame == Frame(), f"the stream ended inside a frame: {frame}"


def changes(stream: Iterator[Frame], count: int) -> list[dict[str, Any]]:
    """The next ``count`` changes of ``stream`` (comments are skipped)."""
    found: list[dict[str, Any]] = []
    for frame in stream:
        if frame.event is None:
            continue
        assert frame.id is not None
        change = frame.change
        assert change["position"] == int(frame.id)
        found.append(change)
        if len(found) == count:
            return found
    raise AssertionError(f"the stream ended after {len(found)} of {count} changes")
