"""Schemathesis against the served OpenAPI document: no 5xx, no response off the schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.http.conftest import GREETING_APP, Served

EXAMPLES_PER_OPERATION = 30
BUDGET_SECONDS = 30.0
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # A short wait cap: a generated wait= on a running ALO must not hold the run up.
    db = Path(tmp_path_factory.mktemp("fuzzed")) / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--max-wait", "0.2"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_openapi_document_is_served(fuzzed: Served) -> None:
    with fuzzed.client() as client:
        document = client.get("/schema/openapi.json").json()
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
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error_and_no_off_schema_answer(
    fuzzed: Served, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.base_url}/schema/openapi.json")
    stop_at = time.monotonic() + BUDGET_SECONDS / 2
    tried = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case: Any) -> None:
            if time.monotonic() < stop_at:
                case.call_and_validate(base_url=fuzzed.base_url, checks=CHECKS, timeout=10)

        try:
            exercise()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (e.g. /healthz takes nothing).
            assert mode is GenerationMode.NEGATIVE
            continue
        tried += 1
    assert tried >= (10 if mode is GenerationMode.POSITIVE else 5)
