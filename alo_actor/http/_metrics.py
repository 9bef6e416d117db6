"""``GET /metrics``: the engine's counters in the Prometheus text format (prometheus-client).

Nothing is counted here: a collector reads, at each scrape, what the engine already
counts (``system.stats``: the supervisor's commands and attempts, the writer's
commits, the dispatcher's deliveries), the read model's ALOs by status, and the long
polls the service holds open. Counters are totals since the server started; rates
are Prometheus's to compute (``rate(alo_commands_total[1m])``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from litestar import Response, get
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from alo_actor._model import Status
from alo_actor.http._docs import error_responses
from alo_actor.http._service import AnyRequest, Service

# The classic text format every Prometheus reads; Litestar adds "; charset=utf-8".
_MEDIA_TYPE = "text/plain; version=0.0.4"
_BY_STATUS = "SELECT status, COUNT(*) FROM alos GROUP BY status"


class _Collector(Collector):
    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        service = self._service
        system = service.system
        stats = system.stats
        engine = stats.engine

        alos = GaugeMetricFamily(
            "alo_alos", "ALOs in the log, by status (the read model)", labels=["status"]
        )
        counts = dict(system.log.query(_BY_STATUS))
        for status in Status:
            alos.add_metric([status.value], counts.get(status.value, 0))
        yield alos

        commands = CounterMetricFamily(
            "alo_commands",
            "Commands the supervisor decided, by kind (Start, Read, Complete, Cancel, "
            "AttemptSucceeded, ...)",
            labels=["command"],
        )
        for name, count in sorted((kind.__name__, n) for kind, n in engine.commands.copy().items()):
            commands.add_metric([name], count)
        yield commands

        commits = stats.commits
        yield CounterMetricFamily(
            "alo_commits", "Transactions the log's writer committed", value=commits.commits
        )
        yield CounterMetricFamily(
            "alo_commit_failures",
            "Batches the log's writer could not commit (each of their appends failed)",
            value=commits.failed_commits,
        )
        yield _histogram(
            "alo_commit_batch_size",
            "Appends (one command's events each) per committed transaction",
            commits.batch_buckets,
            commits.batch_counts.copy(),
            float(commits.appends),
        )
        yield _histogram(
            "alo_commit_seconds",
            "Time to write and commit one batch",
            commits.seconds_buckets,
            commits.seconds_counts.copy(),
            commits.seconds_sum,
        )

        attempts = CounterMetricFamily(
            "alo_handler_attempts", "Handler attempts begun, by operation", labels=["operation"]
        )
        for operation, count in sorted(engine.attempts.copy().items()):
            attempts.add_metric([operation], count)
        yield attempts
        failures = CounterMetricFamily(
            "alo_handler_failures",
            "Handler attempts that raised, by operation (retried or not)",
            labels=["operation"],
        )
        for operation, count in sorted(engine.attempt_failures.copy().items()):
            failures.add_metric([operation], count)
        yield failures

        deliveries = stats.deliveries
        yield GaugeMetricFamily(
            "alo_deliveries_pending",
            "Result-URL deliveries not finished yet (in flight or waiting to retry)",
            value=stats.deliveries_pending(),
        )
        yield CounterMetricFamily(
            "alo_delivery_failed_posts",
            "Result-URL POSTs that did not get a 2xx (each retry counts)",
            value=deliveries.failed_posts,
        )
        finished = CounterMetricFamily(
            "alo_deliveries",
            "Result-URL deliveries finished: delivered (a 2xx) or abandoned",
            labels=["outcome"],
        )
        finished.add_metric(["delivered"], deliveries.delivered)
        finished.add_metric(["abandoned"], deliveries.abandoned)
        yield finished

        yield GaugeMetricFamily(
            "alo_long_polls_open",
            "GET /v1/alos/{id}/result?wait= requests waiting for an outcome",
            value=service.open_polls,
        )


def _histogram(
    name: str, documentation: str, bounds: Sequence[float], counts: list[int], total: float
) -> HistogramMetricFamily:
    """Prometheus's cumulative buckets from per-bucket counts (the last one unbounded)."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        buckets.append((_bound(bound), running))
    buckets.append(("+Inf", running + counts[-1]))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=total)


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def metrics_registry(service: Service) -> CollectorRegistry:
    """A registry of its own (not prometheus-client's global one) for one service."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(service))
    return registry


@get(
    "/metrics",
    summary="Metrics in the Prometheus text format",
    description="ALOs by status, commands, commits (with batch size and latency histograms), "
    "handler attempts and failures, result-URL deliveries and open long polls. Counters count "
    "from the server's start.",
    media_type=_MEDIA_TYPE,
    responses=error_responses(),
)
async def metrics(request: AnyRequest) -> Response[bytes]:
    registry: CollectorRegistry = request.app.state.metrics
    # The read model's count is a query: off the event loop.
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=_MEDIA_TYPE)


METRICS_ROUTES = [metrics]
