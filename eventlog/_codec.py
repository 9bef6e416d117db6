"""A msgspec msgpack codec for a tagged union of frozen event Structs."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from eventlog._types import NewEvent, RecordedEvent

E = TypeVar("E", bound=msgspec.Struct)


class Codec(Generic[E]):
    """Encodes events to ``NewEvent`` rows and decodes stored rows back.

    The domain registers its event types once; one encoder and one decoder are
    built and reused. Each type must be a tagged ``msgspec.Struct``.
    """

    def __init__(self, types: tuple[type[E], ...]) -> None:
        if not types:
            raise ValueError("a codec needs at least one event type")
        self.types = types
        self._names: dict[type[E], Any] = {t: t.__struct_config__.tag for t in types}
        for t, tag in self._names.items():
            if not isinstance(tag, str):
                raise TypeError(f"{t.__name__} must be a msgspec Struct with a string tag")
        self._encoder = msgspec.msgpack.Encoder()
        union: Any = types[0] if len(types) == 1 else _union(types)
        self._decoder: msgspec.msgpack.Decoder[E] = msgspec.msgpack.Decoder(union)

    def encode(self, event: E) -> NewEvent:
        return NewEvent(self._names[type(event)], self._encoder.encode(event))

    def decode(self, data: bytes) -> E:
        return self._decoder.decode(data)

    def decode_recorded(self, event: RecordedEvent) -> E:
        return self._decoder.decode(event.data)


def _union(types: tuple[type[Any], ...]) -> Any:
    union: Any = types[0]
    for t in types[1:]:
        union = union | t
    return union
