"""Bad arguments are refused with a message naming the problem, and write nothing (§1, §2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alo_actor import AloSystem, Failure, InvalidArgument, NotFound
from alo_actor._errors import PayloadTooLarge

MIB = 1024 * 1024
BIN32_HEADER = 5  # msgpack bytes of 64 KiB or more: 1 type byte + 4 length bytes

BAD_IDS: list[tuple[Any, str]] = [
    ("", "1 to 256 characters"),
    ("x" * 257, "not 257"),
    (" ", "whitespace"),
    ("order 1", "' '"),
    ("order\t1", "U+0009"),
    ("order\n", "U+000A"),
    ("\u00a0nbsp", "U+00A0"),  # no-break space: whitespace
    ("line\u2028sep", "U+2028"),
    ("a/b", "'/'"),
    ("/", "'/'"),
    ("nul\x00", "U+0000"),
    ("del\x7f", "U+007F"),
    ("zero\u200bwidth", "U+200B"),  # format character (Cf), not whitespace
    ("\ufeffbom", "U+FEFF"),
    ("rtl\u202emark", "U+202E"),
    # URL-normalising clients turn /v1/alos/.. into /v1: it could never be read back.
    (".", "'.'"),
    ("..", "'..'"),
    ("lone\ud800surrogate", "U+D800"),  # no UTF-8 form
    ("\udfff", "surrogate"),
    (42, "string"),
    (None, "string"),
]

GOOD_IDS = [
    "x",
    "x" * 256,
    "\U0001f600" * 256,  # 256 code points, 1024 bytes of UTF-8
    "order-1",
    "é",
    "日本語",
    "a.b:c@d#e?f",
    "back\\slash",
    "\ue000private",
    "...",
    ".hidden",
    "a..b",
]

BAD_URLS: list[tuple[Any, str]] = [
    ("ftp://example.com/x", "http"),
    ("not-a-url", "http"),
    ("mailto:ops@example.com", "http"),
    ("http://", "host"),
    ("https:///path", "host"),
    ("javascript:alert(1)", "http"),
    ("http://127.0.0.1:port/", "malformed"),
    ("http://127.0.0.1:99999/", "malformed"),
    ("http://" + "h" * 2100 + ".com/", "2048"),
    (7, "string"),
    # urlsplit silently drops tabs and newlines and strips leading blanks, so these
    # would pass a host check, yet no HTTP client can POST to them.
    ("http://127.0.0.1:9/\n", "whitespace"),
    ("http://127.0.0.1:9/a\r\nX-Injected: 1", "whitespace"),
    (" http://127.0.0.1:9/", "whitespace"),
    ("http://evil.com\t@127.0.0.1:9/", "whitespace"),
    ("http://127.0.0.1:9/a b", "whitespace"),
    ("http://127.0.0.1:9/\x00", "control"),
    ("http://127.0.0.1:9/\u200b", "ASCII"),
    ("http://127.0.0.1:9/caf\u00e9", "ASCII"),  # percent-encode it: %C3%A9
]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AloSystem]:
    """One system for the module: every check here compares log positions around a
    refused call, and the few accepted starts use ids of their own."""
    opened = AloSystem.open(str(tmp_path_factory.mktemp("validation") / "validation.db"))
    opened.register("known", lambda ctx, inp: inp)
    opened.start("existing", None)
    try:
        yield opened
    finally:
        opened.close()


def refused(
    system: AloSystem,
    call: Callable[[], Any],
    error: type[Exception] = InvalidArgument,
    match: str | None = None,
) -> str:
    """``call`` raises ``error`` (its message matching ``match``) and writes nothing."""
    before = system.log.last_position()
    with pytest.raises(error) as raised:
        call()
    assert system.log.last_position() == before, "a refused command wrote to the log"
    message = str(raised.value)
    if match is not None:
        assert match in message, message
    return message


@pytest.mark.parametrize(("bad", "named"), BAD_IDS, ids=repr)
def test_bad_ids_are_refused_by_every_verb(system: AloSystem, bad: Any, named: str) -> None:
    verbs: list[Callable[[], Any]] = [
        lambda: system.start(bad, None),
        lambda: system.start(bad, "known", {"x": 1}),
        lambda: system.get_info(bad),
        lambda: system.get_result(bad, timeout=0.1),
        lambda: system.complete(bad, 1),
        lambda: system.fail(bad, "no"),
        lambda: system.cancel(bad),
        lambda: system.pause(bad),
        lambda: system.resume(bad),
    ]
    for verb in verbs:
        message = refused(system, verb, match=named)
        assert "id" in message


@pytest.mark.parametrize("good", GOOD_IDS, ids=repr)
def test_unusual_but_legal_ids_are_accepted(system: AloSystem, good: str) -> None:
    info = system.start(good, None)
    assert info.created is True and info.id == good
    assert system.get_info(good).id == good
    system.complete(good, good)
    assert system.get_result(good) == good


async def test_bad_ids_are_refused_on_the_async_face(system: AloSystem) -> None:
    before = system.log.last_position()
    for bad, named in BAD_IDS:
        for verb in (system.aio.get_info, system.aio.pause, system.aio.resume):
            with pytest.raises(InvalidArgument, match="id"):
                await verb(bad)
        with pytest.raises(InvalidArgument) as raised:
            await system.aio.start(bad, None)
        assert named in str(raised.value)
    assert system.log.last_position() == before


def test_input_over_two_mib_encoded_is_refused(system: AloSystem) -> None:
    limit = 2 * MIB
    largest = b"x" * (limit - BIN32_HEADER)  # exactly 2 MiB as stored
    message = refused(
        system, lambda: system.start("big", None, largest + b"x"), PayloadTooLarge, "input"
    )
    assert str(limit + 1) in message and str(limit) in message
    assert issubclass(PayloadTooLarge, InvalidArgument)  # caught as one, as before
    refused(system, lambda: system.start("big", None, {"text": "é" * MIB}), match="input")
    with pytest.raises(NotFound):
        system.get_info("big")
    assert system.start("big", None, largest).created is True
    # The same limit holds for results.
    refused(system, lambda: system.complete("existing", largest + b"x"), PayloadTooLarge, "result")


def test_unencodable_values_are_refused(system: AloSystem) -> None:
    refused(system, lambda: system.start("o", None, object()), match="input cannot be encoded")
    refused(system, lambda: system.start("o", None, 2**70), match="input")
    refused(system, lambda: system.complete("existing", object()), match="result")
    refused(
        system,
        lambda: system.fail("existing", "no", details=object()),
        match="failure",
    )
    with pytest.raises(NotFound):
        system.get_info("o")


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"n": 1}, "strings"),
        ({1: "n"}, "strings"),
        ({"n": None}, "strings"),
        ({"n": b"bytes"}, "strings"),
        (["k", "v"], "mapping"),
        ("k=v", "mapping"),
        ({f"k{n}": "v" for n in range(65)}, "65 pairs"),
    ],
    ids=repr,
)
def test_bad_metadata_is_refused(system: AloSystem, metadata: Any, named: str) -> None:
    message = refused(system, lambda: system.start("m", None, metadata=metadata), match=named)
    assert "metadata" in message
    message = refused(
        system, lambda: system.complete("existing", 1, result_metadata=metadata), match=named
    )
    assert "result_metadata" in message


def test_sixty_four_metadata_pairs_are_accepted(system: AloSystem) -> None:
    metadata = {f"k{n}": f"v{n}" for n in range(64)}
    assert system.start("m64", None, metadata=metadata).metadata == metadata


@pytest.mark.parametrize(("url", "named"), BAD_URLS, ids=lambda v: repr(v)[:40])
def test_bad_result_urls_are_refused(system: AloSystem, url: Any, named: str) -> None:
    message = refused(system, lambda: system.start("u", None, result_urls=[url]), match=named)
    assert "URL" in message
    with pytest.raises(NotFound):
        system.get_info("u")


def test_at_most_eight_result_urls(system: AloSystem) -> None:
    urls = [f"http://127.0.0.1:{9000 + n}/hook" for n in range(9)]
    refused(system, lambda: system.start("u8", None, result_urls=urls), match="at most 8")
    refused(
        system,
        lambda: system.start("u8", None, result_urls="http://127.0.0.1/"),  # type: ignore[arg-type]
        match="list",
    )
    assert system.start("u8", None, result_urls=urls[:8]).result_urls == urls[:8]


def test_an_unknown_operation_is_not_found(system: AloSystem) -> None:
    message = refused(system, lambda: system.start("op", "billing.charge"), NotFound)
    assert "billing.charge" in message
    refused(system, lambda: system.start("op", ""), match="operation")
    refused(system, lambda: system.start("op", 5), match="operation")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        system.get_info("op")


def test_other_bad_arguments(system: AloSystem) -> None:
    refused(system, lambda: system.start("t", None, timeout=1, deadline=2), match="not both")
    refused(system, lambda: system.start("t", None, timeout="soon"), match="timeout")  # type: ignore[arg-type]
    refused(system, lambda: system.start("t", None, timeout=float("nan")), match="finite")
    refused(system, lambda: system.get_result("existing", timeout="x"), match="timeout")  # type: ignore[arg-type]
    refused(system, lambda: system.get_result("existing", timeout=True), match="timeout")
    refused(system, lambda: system.fail("existing", 42), match="message")  # type: ignore[arg-type]
    # A Failure is a plain struct: nothing checked its fields when it was built. Stored
    # as it is, a non-string message would make the log impossible to replay.
    bad_message = Failure(message=42)  # type: ignore[arg-type]
    refused(system, lambda: system.fail("existing", bad_message), match="message")
    bad_type = Failure(message="m", type=None)  # type: ignore[arg-type]
    refused(system, lambda: system.fail("existing", bad_type), match="type")
    refused(system, lambda: system.cancel("existing", reason=3), match="reason")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="operation"):
        system.register("", lambda ctx, inp: None)
    with pytest.raises(InvalidArgument, match="callable"):
        system.register("x", "not a function")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://example.com:443/hook",
        "http://127.0.0.1.example.com/",
        "http://127.0.0.1@example.com/",  # user info, host is example.com
        "http://10.0.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_the_callback_allow_list_refuses_other_hosts(tmp_path: Path, url: str) -> None:
    with AloSystem.open(str(tmp_path / "allow.db"), allowed_callback_hosts=["loopback"]) as system:
        refused(system, lambda: system.start("cb", None, result_urls=[url]), match="allow-list")
        mixed = ["http://127.0.0.1:9/x", url]
        refused(system, lambda: system.start("cb", None, result_urls=mixed), match="allow-list")
        with pytest.raises(NotFound):
            system.get_info("cb")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "https://localhost/hook",
        "http://LOCALHOST:8080/",
        "http://[::1]:9/x",
        "http://user@127.0.0.1:9/x",
    ],
)
def test_the_callback_allow_list_accepts_loopback(tmp_path: Path, url: str) -> None:
    with AloSystem.open(str(tmp_path / "allow.db"), allowed_callback_hosts=["loopback"]) as system:
        info = system.start("cb", None, result_urls=[url])
        assert info.created is True and info.result_urls == [url]


def test_an_allow_list_of_named_hosts(tmp_path: Path) -> None:
    with AloSystem.open(
        str(tmp_path / "allow.db"), allowed_callback_hosts=["hooks.example.com"]
    ) as system:
        assert system.start("a", None, result_urls=["https://hooks.example.com/x"]).created
        refused(
            system,
            lambda: system.start("b", None, result_urls=["http://127.0.0.1:9/x"]),
            match="127.0.0.1",
        )
        refused(
            system,
            lambda: system.start("b", None, result_urls=["https://evil.hooks.example.com/"]),
            match="allow-list",
        )


def test_changing_what_a_verb_returned_or_a_handler_was_given_changes_no_alo(
    system: AloSystem,
) -> None:
    # An info's containers, and a handler context's metadata, are the caller's own:
    # the supervisor's state of the ALO (and what it answers next) stays as logged.
    seen: list[dict[str, str]] = []

    def meddle(ctx: Any, value: Any) -> Any:
        ctx.metadata["team"] = "changed by the handler"
        seen.append(ctx.metadata)
        return value

    system.register("meddle", meddle)
    url = "http://127.0.0.1:9/hook"
    info = system.start("m", metadata={"team": "a"}, result_urls=[url])
    info.metadata["team"] = "changed"
    info.result_urls.append("http://127.0.0.1:9/other")
    again = system.get_info("m")
    assert (again.metadata, again.result_urls) == ({"team": "a"}, [url])
    system.complete("m", 1, result_metadata={"k": "v"})
    done = system.get_info("m")
    assert done.result_metadata is not None
    done.result_metadata["k"] = "changed"
    assert system.get_info("m").result_metadata == {"k": "v"}
    system.start("h", "meddle", 5, metadata={"team": "b"})
    assert system.get_result("h", timeout=30) == 5
    assert seen == [{"team": "changed by the handler"}]
    assert system.get_info("h").metadata == {"team": "b"}
    assert system.list(metadata={"team": "b"}).items[0].id == "h"
