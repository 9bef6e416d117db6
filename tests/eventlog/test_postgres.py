"""The event log contract on a real PostgreSQL server, plus what only that backend promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventlog import EventLog
from tests.eventlog.contract import EventLogContract
from tests.postgres import PostgresServer


class TestPostgresEventLog(EventLogContract):
    server: PostgresServer
    schemas: dict[str, str]

    @pytest.fixture(autouse=True)
    def _schemas(self, postgres: PostgresServer) -> Iterator[None]:
        self.server = postgres
        self.schemas = {}
        yield
        for log in self._opened:  # closed before their schemas go
            log.close()
        for schema in self.schemas.values():
            postgres.drop_schema(schema)

    def open_log(self, name: str, **options: Any) -> EventLog:
        schema = self.schemas.get(name)
        if schema is None:
            schema = self.schemas[name] = self.server.new_schema()
        return EventLog.open(self.server.url(schema), **options)
