"""Schemathesis ``run --checks all`` against a real ``alo serve``: 0 failures.

Every check schemathesis has (no 5xx; status codes, content types, headers and
bodies as documented; schema-valid requests accepted and invalid ones refused; the
documented auth enforced; OPTIONS and 405 ``Allow`` agreeing; ...) over all of its
phases (coverage of each constraint's edges, fuzzing, stateful sequences), with a
fixed seed so a run is repeatable. ``schemathesis.toml`` beside this file says which
answers count as accepting a request, and why.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.conftest import GREETING_APP, REPO, Served

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES_PER_OPERATION = 15
RUN_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # A short wait cap: a generated wait= on a running ALO must not hold the run up.
    db = Path(tmp_path_factory.mktemp("fuzzed")) / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--max-wait", "0.2"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = Path(tmp_path_factory.mktemp("guarded")) / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--max-wait", "0.2", "--token", "s3cret"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def schemathesis_run(server: Served, seed: int, *extra: str) -> tuple[int, str]:
    """``schemathesis run`` with every check; the number of test cases and the output."""
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            f"{server.base_url}/schema/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(seed),
            "--workers",
            "1",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases is not None and cases.group(1) == cases.group(2), output
    return int(cases.group(1)), output


def test_openapi_document_is_served(fuzzed: Served) -> None:
    with fuzzed.client() as client:
        document = client.get("/schema/openapi.json").json()
        # No page that loads its scripts from a CDN: the document is all there is.
        assert client.get("/schema/swagger").status_code == 404
        assert client.get("/schema/redoc").status_code == 404
    assert set(document["paths"]) >= {
        "/v1/alos",
        "/v1/alos/{alo_id}",
        "/v1/alos/{alo_id}/result",
        "/v1/alos/{alo_id}/complete",
        "/v1/alos/{alo_id}/fail",
        "/v1/alos/{alo_id}/cancel",
        "/v1/alos/{alo_id}/pause",
        "/v1/alos/{alo_id}/resume",
        "/v1/alos/{alo_id}/events",
        "/healthz",
        "/readyz",
    }
    start = document["components"]["schemas"]["StartRequest"]
    assert start["additionalProperties"] is False
    assert "pattern" in start["properties"]["id"]
    created = document["paths"]["/v1/alos"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "Alo-Status"} <= set(created)


def test_schemathesis_with_every_check_finds_nothing(fuzzed: Served) -> None:
    cases, output = schemathesis_run(fuzzed, seed=1)
    assert cases >= 500, output  # every phase ran (about 700 cases)
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in output, output


def test_with_a_token_the_documented_auth_holds(guarded: Served) -> None:
    with guarded.client() as client:
        document = client.get("/schema/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/healthz"]["get"]["security"] == [{}]
    # The ignored_auth check sends requests without the token too: they must be 401.
    cases, output = schemathesis_run(guarded, 2, "--header", "Authorization: Bearer s3cret")
    assert cases >= 500, output
    assert httpx.get(f"{guarded.base_url}/v1/alos").status_code == 401
