"""`python -m benchmarks --quick` runs every scenario and writes its JSON, table and plots."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks._scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_writes_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "results"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--tmp", str(scratch)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,  # about 20 s on an idle 2-core machine; others' tests share it
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["scenarios"]) == set(SCENARIOS)
    assert {g["status"] for g in results["goals"]} <= {"met", "missed", "not measured"}
    table = (out / "results.md").read_text()
    assert "| goal | target | measured | status |" in table
    assert "## Throughput" in table
    assert table.strip() in done.stdout
    # DBOS at a tiny size (~5 s, two subprocesses), on the WAL it was asked for
    dbos = results["scenarios"]["baselines"]["dbos"]
    assert [(v["workflow"], v["journal_mode"], v["synchronous"]) for v in dbos["variants"]] == [
        ("returns", "WAL", "NORMAL"),
        ("recv", "WAL", "NORMAL"),
    ]
    assert all(v["promises_per_s"] > 0 for v in dbos["variants"])
    assert f"| DBOS Transact {dbos['version']}, workflow returns at once" in table
    assert list(out.glob("*.png"))


def test_against_runs_the_revision_and_this_tree_in_turn() -> None:
    from benchmarks._against import REPO, against

    script = "import json, os, sys; print(json.dumps([os.getcwd(), sys.argv[1:]]))"
    pairs = against("HEAD", script, ["x"], 2)
    assert len(pairs) == 2
    for (there_cwd, there_args), (here_cwd, here_args) in pairs:
        assert here_cwd == str(REPO) and there_cwd != here_cwd
        assert there_args[0] == here_args[0] == "x" and there_args[1] != here_args[1]


@pytest.mark.parametrize("one_thread", [False, True], ids=["three threads", "one thread"])
def test_the_prototype_writes_a_log_the_engine_reads(tmp_path: Path, one_thread: bool) -> None:
    """bench_core's prototype is measured on the engine's own log: what it commits, the
    engine reads back as the ALOs the flows made (events and read model alike)."""
    from alo_actor import AloSystem, Status
    from benchmarks.bench_core import bench_prototype

    path = str(tmp_path / "prototype.db")
    # Fewer in flight than a batch holds: the batch flow must not overlap its batches
    # (the prototype refuses a start of an id it has, where the engine answers it).
    per_call, batches = bench_prototype(path, 300, 50, one_thread=one_thread)
    assert per_call > 0 and batches > 0
    # Each result is the promise's number, in a batch its place in its batch of 100.
    for where, results in ((path, [0, 7, 299]), (path + "-batches", [0, 7, 99])):
        system = AloSystem.open(where)
        try:
            assert [system.get_result(f"p{i}") for i in (0, 7, 299)] == results
            page = system.list(Status.COMPLETED, limit=1000)
            assert len(page.items) == 300 and page.next_cursor is None
            assert not system.list(Status.RUNNING).items
        finally:
            system.close()


def test_threads_prints_each_flow_and_design_with_its_threads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``bench_core --threads``: CPU per promise by thread, read from /proc."""
    from benchmarks.bench_core import _print_threads, thread_cpu

    before = thread_cpu()["MainThread"]
    deadline = time.monotonic() + 30
    while thread_cpu()["MainThread"] <= before:  # counted in clock ticks: spin until one
        assert time.monotonic() < deadline, "this thread's CPU never grew"
        sum(i * i for i in range(100_000))
    _print_threads(2_000, 100)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "alo-actor, per call",
        "prototype, per call",
        "alo-actor, batches of 100",
        "prototype, batches of 100",
    ]
    # /proc counts in clock ticks (10 ms): a short run's threads may show none.
    for line in lines:
        spent, wall = line.split("(all ")[1].rstrip(")").split("; wall ")
        assert float(spent) >= 0 and float(wall) > 0


SUPERVISOR_ARGS = ("--promises", "3000", "--rounds", "2", "--against", "HEAD")


def test_bench_supervisor_prints_both_designs_and_the_paired_ratios() -> None:
    """``bench_supervisor``: the host and supervisor alone, beside the prototype's
    decisions, and ``--against`` a revision (this one: the ratios are near 1)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_supervisor", *SUPERVISOR_ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,  # a few seconds on an idle 2-core machine
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("supervisor CPU per promise, one thread, no log (3,000 promises")
    for line, flow in zip(lines[1:3], ("per call", "batches of 100"), strict=True):
        found = re.fullmatch(rf"  {flow}: alo-actor (\S+) us, prototype (\S+) us \(.*\)", line)
        assert found is not None, line
        assert float(found[1]) > 0 and float(found[2]) > 0
    assert [line.split(",")[0] for line in lines[3:]] == ["per call", "batches of 100"]
    for line in lines[3:]:
        assert "HEAD's time / this tree's: " in line and float(line.split(": ")[1][:4]) > 0


def test_bench_supervisor_checks_every_answer() -> None:
    from benchmarks.bench_supervisor import _Answers, _check_engine, engine_us, prototype_us

    assert engine_us(300, 100, 100) > 0 and engine_us(300, 100, 1) > 0
    assert prototype_us(300, 100, 100) > 0 and prototype_us(300, 100, 1) > 0
    wrong = _Answers()
    wrong.one(None, ValueError("refused"))
    with pytest.raises(AssertionError, match="1 errors"):
        _check_engine(wrong, 1)
    short = _Answers()
    short.one(None)
    with pytest.raises(AssertionError, match="1 answers for 1 promises"):
        _check_engine(short, 1)
