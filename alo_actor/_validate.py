"""Checks of caller input (semantics §1): a bad argument is refused before anything is written."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from alo_actor._errors import InvalidArgument, PayloadTooLarge

MAX_ID_LENGTH = 256
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
# Arrays and objects within each other, at most (``[[1]]`` is 2 deep). Every reader
# of a stored value (HTTP answers, ``alo log export``) nests it a few levels deeper in
# its own JSON and decodes it recursively: 128 leaves them far from Python's recursion
# limit (~1,000, where msgspec gives up), and no sensible document comes near it.
MAX_NESTING = 128
MAX_METADATA_PAIRS = 64
MAX_METADATA_TEXT = 4096
MAX_RESULT_URLS = 8
MAX_URL_LENGTH = 2048
MAX_CALLBACK_HEADERS = 16
MAX_CALLBACK_HEADER_BYTES = 16 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Path segments that URL-normalising clients (browsers, httpx, curl) rewrite, so an
# ALO by such a name could never be read back over HTTP.
_DOT_SEGMENTS = frozenset({".", ".."})

_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
# RFC 9110's token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible ASCII, spaces and tabs inside (or nothing): a value the delivery sends as it is.
_HEADER_VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?)?")
# Headers a callback may not set: the delivery's own, and those of the HTTP framing.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


def check_id(alo_id: Any) -> str:
    # The common id passes in one expression: this runs for every call of every verb.
    if (
        type(alo_id) is str
        and 0 < len(alo_id) <= MAX_ID_LENGTH
        and alo_id.isprintable()
        and "/" not in alo_id
        and " " not in alo_id
        and alo_id not in _DOT_SEGMENTS
    ):
        return alo_id
    if not isinstance(alo_id, str):
        raise InvalidArgument(f"id must be a string, not {type(alo_id).__name__}")
    if not 1 <= len(alo_id) <= MAX_ID_LENGTH:
        raise InvalidArgument(f"id must be 1 to {MAX_ID_LENGTH} characters, not {len(alo_id)}")
    if not alo_id.isprintable() or "/" in alo_id or " " in alo_id:
        # isprintable() is False for whitespace, Cc, Cf and other separators: check the
        # spec's exact rule only on this slow path, so the common id costs one C call.
        for ch in alo_id:
            if ch.isspace() or ch == "/" or unicodedata.category(ch) in ("Cc", "Cf"):
                raise InvalidArgument(
                    f"id may not contain whitespace, control or format characters or '/': "
                    f"found {ch!r} (U+{ord(ch):04X})"
                )
            if unicodedata.category(ch) == "Cs":
                raise InvalidArgument(
                    f"id must be Unicode text: found a lone surrogate (U+{ord(ch):04X}), "
                    "which has no UTF-8 form"
                )
    if alo_id in _DOT_SEGMENTS:
        raise InvalidArgument(f"id may not be {alo_id!r}: URLs treat it as a path step")
    return alo_id


def check_operation(operation: Any) -> str | None:
    if operation is None:
        return None
    if not isinstance(operation, str) or not operation:
        raise InvalidArgument("operation must be a non-empty string or None")
    return operation


def encode_payload(value: Any, what: str, *, wrapped: bool = False) -> msgspec.Raw:
    """The value as stored (msgpack), refused with InvalidArgument if it cannot be
    encoded, is over 2 MiB, is nested more than MAX_NESTING deep, or has no JSON form
    (so that every value stored can be answered over HTTP and exported).

    ``wrapped``: the value is a record around the payload (a Failure around its
    details), which may take one level more.
    """
    try:
        data = _encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{what} cannot be encoded: {exc}") from exc
    except RecursionError:
        raise InvalidArgument(_too_deep_message(what)) from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{what} is {len(data)} bytes encoded, over the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    if type(value) not in _SCALARS:  # a scalar that encodes has a JSON form
        check_json_form(msgspec.msgpack.decode(data), what, MAX_NESTING + wrapped)
    return msgspec.Raw(data)


# Exact types: a subclass may encode as something else (an IntEnum, a str subclass).
_SCALARS = frozenset({int, str, float, bool, type(None)})


def check_json_form(value: Any, what: str, nesting: int = MAX_NESTING) -> None:
    """Refuse (InvalidArgument) a decoded value nested more than ``nesting`` deep, or
    one JSON cannot show (map keys that are not strings or numbers, extension types)."""
    if _nested_deeper(value, nesting):
        raise InvalidArgument(_too_deep_message(what))
    try:
        _json_encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} has no JSON form: {exc}") from None


def _too_deep_message(what: str) -> str:
    return f"{what} has arrays or objects nested more than {MAX_NESTING} deep"


def _nested_deeper(value: Any, room: int) -> bool:
    """Whether lists and dicts nest in ``value`` more than ``room`` deep (what msgpack
    decodes to: other values hold nothing; keys are never lists or dicts)."""
    kind = type(value)
    if kind is dict:
        children: Any = value.values()
    elif kind is list:
        children = value
    else:
        return False
    if room == 0:
        return True
    room -= 1
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and _nested_deeper(child, room):
            return True
    return False


def check_metadata(metadata: Any, what: str = "metadata") -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"{what} must be a mapping of strings to strings")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidArgument(f"{what} has {len(metadata)} pairs, over the limit of 64")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArgument(f"{what} keys and values must be strings: {key!r}: {value!r}")
        if len(key) > MAX_METADATA_TEXT or len(value) > MAX_METADATA_TEXT:
            raise InvalidArgument(f"{what} key or value longer than {MAX_METADATA_TEXT}: {key!r}")
        if not (key.isascii() and value.isascii()):
            check_text(key, what)
            check_text(value, what)
    return dict(metadata)


def check_text(text: str, what: str) -> str:
    """``text``, refused (InvalidArgument) if it holds a lone surrogate: no UTF-8 form,
    so it could be neither stored nor sent."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{what} must be Unicode text: {exc.reason} (U+{ord(text[exc.start]):04X})"
        ) from None
    return text


def check_result_urls(urls: Any, allowed_hosts: Collection[str] | None) -> list[str]:
    """http(s) URLs with a host; when ``allowed_hosts`` is given, only those hosts
    (matched by name, never resolved)."""
    if urls is None:
        return []
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise InvalidArgument("result_urls must be a list of URLs")
    if len(urls) > MAX_RESULT_URLS:
        raise InvalidArgument(f"at most {MAX_RESULT_URLS} result URLs, not {len(urls)}")
    checked: list[str] = []
    for url in urls:
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
            raise InvalidArgument(f"result URL must be a string of at most {MAX_URL_LENGTH}")
        if not url.isascii():
            # A URL is ASCII (RFC 3986); HTTP clients disagree on encoding anything else.
            raise InvalidArgument(
                f"result URL must be ASCII (percent-encode other characters): {url!r}"
            )
        if not url.isprintable() or " " in url:
            # urlsplit silently drops tabs and newlines and strips leading blanks, so
            # the host it finds is not the one an HTTP client would see (if any).
            raise InvalidArgument(
                f"result URL may not contain whitespace, control or format characters: {url!r}"
            )
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError as exc:
            raise InvalidArgument(f"malformed result URL {url!r}: {exc}") from exc
        if parts.scheme not in ("http", "https") or not host:
            raise InvalidArgument(f"result URL must be http(s) with a host: {url!r}")
        if allowed_hosts is not None and host.lower() not in allowed_hosts:
            raise InvalidArgument(
                f"result URL host {host!r} is not on the callback allow-list "
                f"({', '.join(sorted(allowed_hosts))})"
            )
        checked.append(url)
    return checked


def check_timeout(timeout: Any, what: str = "timeout") -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidArgument(f"{what} must be a number of seconds")
    if not math.isfinite(timeout):
        raise InvalidArgument(f"{what} must be finite")
    return float(timeout)


def check_callback_headers(headers: Any) -> dict[str, str]:
    """Headers that a result URL is sent with the outcome: names of token characters,
    values of visible ASCII, none of the delivery's own (``Content-Type``, the
    ``Nexus-Operation-*`` and signature headers, the HTTP framing)."""
    if not isinstance(headers, Mapping):
        raise InvalidArgument("callback headers must be a mapping of strings to strings")
    if len(headers) > MAX_CALLBACK_HEADERS:
        raise InvalidArgument(
            f"{len(headers)} callback headers, over the limit of {MAX_CALLBACK_HEADERS}"
        )
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidArgument(f"callback header name {name!r} is not an HTTP token")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS or lowered.startswith("nexus-operation-"):
            raise InvalidArgument(f"callback header {name!r} is set by the delivery itself")
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise InvalidArgument(
                f"callback header {name!r} must have a value of visible ASCII characters "
                "(spaces and tabs only inside)"
            )
        size += len(name) + len(value)
    if size > MAX_CALLBACK_HEADER_BYTES:
        raise InvalidArgument(
            f"callback headers are {size} bytes, over the {MAX_CALLBACK_HEADER_BYTES}-byte limit"
        )
    return dict(headers)
