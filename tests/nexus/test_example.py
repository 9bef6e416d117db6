"""examples/nexus_payments.py and nexus_workflow.py, run as the README says, against
the real Temporal dev server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.http.conftest import REPO, Served
from tests.nexus.conftest import Temporal
from tests.nexus.support import WORKFLOW_WAIT

WORKFLOW = REPO / "examples" / "nexus_workflow.py"


def place(temporal: Temporal, endpoint: str, amount: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(WORKFLOW),
            "--address",
            temporal.server.address,
            "--endpoint",
            endpoint,
            "--amount",
            str(amount),
            "--seconds",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=WORKFLOW_WAIT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_example_workflow_pays_through_an_alo_and_is_told_of_a_decline(
    temporal: Temporal, tmp_path: Path
) -> None:
    served = Served(
        tmp_path / "payments.db",
        ["--app", "examples.nexus_payments:register"],
        env={"ALO_NEXUS_TOKEN": "s3cret"},
    ).start()
    try:
        endpoint = temporal.endpoint_for(served, secret="s3cret")
        paid = place(temporal, endpoint, 42)
        assert paid["status"] == "paid"
        assert paid["receipt"]["amount"] == 42
        declined = place(temporal, endpoint, 4200)
        assert declined == {
            "order": declined["order"],
            "status": "declined",
            "reason": "4200 is over the card's limit of 1000",
        }
    finally:
        served.kill()
