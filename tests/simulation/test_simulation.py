"""Deterministic simulation in CI: a few seeds; many more with ``python -m tests.simulation``.

Each seed runs a generated workload (racing threads and event loops, faults) against a
real system on a file, or several over one file, then checks every answer against the
model, the log against the verifier, and result-URL deliveries. A failure names the
command that reruns it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec
import pytest

from tests.simulation.__main__ import main
from tests.simulation.protocol import Command
from tests.simulation.run import Report, run_seed
from tests.simulation.workload import (
    KILL,
    OWN_THREAD,
    SEVERAL,
    SEVERAL_KILL,
    SMALL,
    Advance,
    CloseSystem,
    generate,
)

CI_SEEDS = range(1, 21)
CI_KILL_SEEDS = (1, 2)
# Two and three systems, a reopen of one and of all, closes mid-phase; kills of a child
# beside two and beside three.
CI_SEVERAL_SEEDS = (7, 9, 10)
CI_SEVERAL_KILL_SEEDS = (4, 5)


def _assert_ok(report: Report) -> None:
    if not report.ok:
        shown = "\n".join(report.problems[:5])
        pytest.fail(f"{report.summary()}\n{shown}\nrerun with: {report.repro()}", pytrace=False)


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_small_workload(seed: int, tmp_path: Path) -> None:
    _assert_ok(run_seed(seed, SMALL, "small", tmp_path))


@pytest.mark.parametrize("seed", CI_KILL_SEEDS)
def test_sigkill_of_a_child_mid_phase(seed: int, tmp_path: Path) -> None:
    report = run_seed(seed, KILL, "kill", tmp_path)
    _assert_ok(report)
    assert report.faults["SIGKILL mid-phase"] == 1, report.summary()


@pytest.mark.parametrize("seed", CI_SEVERAL_SEEDS)
def test_several_systems_over_one_log(seed: int, tmp_path: Path) -> None:
    _assert_ok(run_seed(seed, SEVERAL, "several", tmp_path))


@pytest.mark.parametrize("seed", CI_SEVERAL_KILL_SEEDS)
def test_sigkill_of_a_child_beside_several_systems(seed: int, tmp_path: Path) -> None:
    report = run_seed(seed, SEVERAL_KILL, "several-kill", tmp_path)
    _assert_ok(report)
    # It held shards when it died: the systems here took them over.
    assert report.faults["SIGKILL of a shard holder"] == 1, report.summary()


def test_the_workload_is_a_function_of_the_seed() -> None:
    assert msgspec.json.encode(generate(7)) == msgspec.json.encode(generate(7))
    assert msgspec.json.encode(generate(7)) != msgspec.json.encode(generate(8))


def test_the_ci_seeds_cover_every_command_and_fault() -> None:
    commands: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    lanes: Counter[str] = Counter()
    for seed in CI_SEEDS:
        for phase in generate(seed).phases:
            faults[phase.fault or "none"] += 1
            for lane in phase.lanes:
                lanes["thread" if lane.loop == OWN_THREAD else f"loop{lane.loop}"] += 1
                for step in lane.steps:
                    if isinstance(step, CloseSystem):
                        faults["close mid-phase"] += 1
                    elif isinstance(step, Advance):
                        faults["clock moved mid-phase"] += 1
                    elif isinstance(step, Command):
                        commands[type(step).__name__] += 1
    assert set(commands) == {
        "Start",
        "GetInfo",
        "Subscribe",
        "GetResult",
        "Complete",
        "Fail",
        "Cancel",
        "Pause",
        "Resume",
    }
    assert {"reopen", "close mid-phase", "clock moved mid-phase"} <= set(faults)
    assert {"thread", "loop0", "loop1"} <= set(lanes)
    assert any(p.fault == "kill" for seed in CI_KILL_SEEDS for p in generate(seed, KILL).phases)


def test_the_several_ci_seeds_race_through_every_system_and_fault() -> None:
    faults: Counter[str] = Counter()
    systems: set[int] = set()
    for size, seeds in ((SEVERAL, CI_SEVERAL_SEEDS), (SEVERAL_KILL, CI_SEVERAL_KILL_SEEDS)):
        for seed in seeds:
            workload = generate(seed, size)
            systems.add(workload.systems)
            slots = set(range(workload.systems))
            for phase in workload.phases:
                faults[phase.fault or "none"] += 1
                used = {lane.system for lane in phase.lanes}
                if phase.fault == "kill":
                    assert workload.child_slot in used  # the child has lanes
                    used.discard(workload.child_slot)
                assert used <= slots
                for lane in phase.lanes:
                    for step in lane.steps:
                        assert not isinstance(step, Advance)  # the clock moves between phases
                        faults["close mid-phase"] += isinstance(step, CloseSystem)
            # Some phase sends commands on the same ids through different systems.
            assert any(len({lane.system for lane in p.lanes}) > 1 for p in workload.phases)
    assert systems == {2, 3}
    assert {"reopen", "reopen-one", "kill", "close mid-phase"} <= set(faults)


def test_the_command_runs_seeds_and_says_how_to_rerun(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "1", "--start", "3"]) == 0
    out = capsys.readouterr().out
    assert "seed 3 (small): ok" in out
    assert "1 seeds (small)" in out
    report = Report(seed=42, size="kill", problems=["something"])
    assert report.repro() == "python -m tests.simulation --seeds 1 --start 42 --size kill"
