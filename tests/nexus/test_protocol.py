"""The Nexus protocol's pure parts: tokens, durations, callback headers, failures, times."""

from __future__ import annotations

import base64
import email.utils
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alo_actor import Failure, InvalidArgument, Status
from alo_actor.nexus import (
    alo_id_of_token,
    callback_headers,
    failure_json,
    handler_error,
    http_date,
    operation_error,
    operation_state,
    operation_token,
    parse_duration,
    rfc3339_ms,
)

ids = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Cs"), blacklist_characters="/"
    ),
    min_size=1,
    max_size=256,
).filter(lambda s: not any(ch.isspace() for ch in s) and s not in (".", ".."))
# (the ids check_id takes: "." and ".." are refused, since URLs treat them as path steps)


@given(ids)
def test_a_token_names_its_alo(alo_id: str) -> None:
    token = operation_token(alo_id)
    assert alo_id_of_token(token) == alo_id
    assert token.isascii() and token.isprintable() and "=" not in token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        operation_token("a") + "=",  # padded
        operation_token("a") + "A",  # a stray character
        _b64(b'{"id":"a","v":1}'),  # another spelling of the same record
        _b64(b'{"v":2,"id":"a"}'),  # another version
        _b64(b'{"v":1,"id":"a","x":1}'),  # unknown field
        _b64(b'{"v":1,"id":"has space"}'),  # not an id
        _b64(b'{"v":1}'),
        _b64(b"\xff\xfe"),
        "x" * 3000,
    ],
)
def test_anything_else_is_a_malformed_token(token: str) -> None:
    with pytest.raises(InvalidArgument, match="malformed operation token"):
        alo_id_of_token(token)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("44997ms", 44.997),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1.5s", 1.5),
        ("1m30.5s", 90.5),  # Go's Duration.String()
        ("1h0m0s", 3600.0),
        ("250us", 0.00025),
        ("0s", 0.0),
    ],
)
def test_durations_are_the_specs_and_gos(text: str, seconds: float) -> None:
    assert parse_duration(text, "Operation-Timeout") == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "30", "s", "-1s", "1 s", "1d", "1e3ms", "99999999h", "x" * 80]
)
def test_other_durations_are_refused_naming_the_header(text: str) -> None:
    with pytest.raises(InvalidArgument, match="Operation-Timeout"):
        parse_duration(text, "Operation-Timeout")


def test_callback_headers_lose_their_prefix_and_are_spelled_canonically() -> None:
    headers = [
        ("nexus-callback-temporal-callback-token", "t"),
        ("Nexus-Callback-X-Trace", "u"),
        ("nexus-callback-", "empty name: not a callback header"),
        ("nexus-request-id", "r"),
        ("content-type", "application/json"),
    ]
    assert callback_headers(headers) == {"Temporal-Callback-Token": "t", "X-Trace": "u"}
    with pytest.raises(InvalidArgument, match="more than once"):
        callback_headers([("nexus-callback-a", "1"), ("Nexus-Callback-A", "2")])


def test_an_unsuccessful_outcome_is_an_operation_error_around_the_alos_failure() -> None:
    failure = Failure("card declined", type="CardDeclined", details={"code": 7}, stack_trace="tb")
    assert failure_json(failure) == {
        "message": "card declined",
        "metadata": {"type": "CardDeclined"},
        "details": {"code": 7},
        "stackTrace": "tb",
    }
    assert operation_error(Status.FAILED, failure) == {
        "message": "card declined",
        "metadata": {"type": "nexus.OperationError"},
        "details": {"state": "failed"},
        "cause": failure_json(failure),
    }
    timed_out = operation_error(Status.TIMED_OUT, Failure("late", type="TimedOut"))
    assert timed_out["details"] == {"state": "failed"}
    assert timed_out["cause"] == {"message": "late", "metadata": {"type": "TimedOut"}}
    assert operation_error(Status.CANCELLED, None)["details"] == {"state": "canceled"}
    assert handler_error("NOT_FOUND", "no such operation") == {
        "message": "no such operation",
        "metadata": {"type": "nexus.HandlerError"},
        "details": {"type": "NOT_FOUND"},
    }


def test_states_and_times_are_the_completions() -> None:
    assert [operation_state(s) for s in Status] == [
        "running",
        "running",
        "succeeded",
        "failed",
        "canceled",
        "failed",
    ]
    at = datetime(2026, 12, 3, 8, 58, 29, 698765, tzinfo=UTC).timestamp()
    assert rfc3339_ms(at) == "2026-12-03T08:58:29.698Z"
    assert http_date(at) == "Thu, 03 Dec 2026 08:58:29 GMT"
    assert email.utils.parsedate_to_datetime(http_date(at)).timestamp() == int(at)
