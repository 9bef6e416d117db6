"""What the writer has committed: counters and two histograms, for a metrics endpoint.

The writer thread alone updates them, once per batch (a few additions, two bisects:
about a microsecond, against the batch's own transaction), without a lock; any
thread may read them. A reader may see a batch half counted, never a count go back.
"""

from __future__ import annotations

from bisect import bisect_left

# Upper bounds ("le") of the histogram buckets; a last, unbounded bucket follows each.
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
SECONDS_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class CommitStats:
    """Commits (transactions) and appends since the log was opened, and how big and how
    slow the commits were. ``batch_counts[i]`` counts commits of at most
    ``BATCH_BUCKETS[i]`` appends (and above the last bound, the last one), and
    ``seconds_counts`` likewise for ``SECONDS_BUCKETS``: per bucket, not cumulative."""

    batch_buckets = BATCH_BUCKETS
    seconds_buckets = SECONDS_BUCKETS

    __slots__ = (
        "appends",
        "batch_counts",
        "commits",
        "failed_commits",
        "seconds_counts",
        "seconds_sum",
    )

    def __init__(self) -> None:
        self.commits = 0
        self.appends = 0
        self.failed_commits = 0
        self.batch_counts = [0] * (len(BATCH_BUCKETS) + 1)
        self.seconds_counts = [0] * (len(SECONDS_BUCKETS) + 1)
        self.seconds_sum = 0.0

    def committed(self, appends: int, seconds: float) -> None:
        """One batch of ``appends`` committed in ``seconds`` (on the writer thread)."""
        self.commits += 1
        self.appends += appends
        self.batch_counts[bisect_left(BATCH_BUCKETS, appends)] += 1
        self.seconds_counts[bisect_left(SECONDS_BUCKETS, seconds)] += 1
        self.seconds_sum += seconds

    def failed(self) -> None:
        """A batch the disk refused (each of its appends failed)."""
        self.failed_commits += 1
