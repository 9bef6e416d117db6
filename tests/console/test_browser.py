"""The console in a real browser (headless Chromium) against a real ``alo serve``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from tests.console.support import alo_serve, fresh
from tests.http.conftest import GREETING_APP, Served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with alo_serve(tmp_path_factory.mktemp("console"), "--app", GREETING_APP) as served:
        yield served


@pytest.fixture(scope="module")
def api(server: Served) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def start(api: httpx.Client, alo_id: str, **fields: object) -> None:
    response = api.post("/v1/alos", json={"id": alo_id, **fields})
    assert response.status_code == 201, response.text


def row(page: Page, alo_id: str) -> Locator:
    return page.locator(f'tr[data-id="{alo_id}"]')


def test_the_list_shows_the_alos_started_through_the_api(
    page: Page, server: Served, api: httpx.Client, screenshots: Path
) -> None:
    team = fresh("team")
    external, greeted = fresh("order"), fresh("greet")
    paused, failed, cancelled = fresh("invoice"), fresh("refund"), fresh("export")
    start(api, external, metadata={"team": team})
    start(api, greeted, operation="greeting", input={"name": "Ada"})
    for alo_id in (paused, failed, cancelled):
        start(api, alo_id, metadata={"team": "billing", "region": "eu"})
    assert api.post(f"/v1/alos/{paused}/pause").status_code == 200
    assert api.post(f"/v1/alos/{failed}/fail", json={"message": "card declined"}).status_code == 200
    assert api.post(f"/v1/alos/{cancelled}/cancel", json={}).status_code == 200
    assert api.get(f"/v1/alos/{greeted}/result", params={"wait": "10s"}).status_code == 200

    page.goto(f"{server.base_url}/ui")

    expect(row(page, external).locator("td").nth(1)).to_have_text("running")
    expect(row(page, external).locator("td").nth(2)).to_have_text("(external)")
    expect(row(page, external).locator("td.metadata")).to_have_text(f"team={team}")
    expect(row(page, greeted).locator("td").nth(1)).to_have_text("completed")
    expect(row(page, greeted).locator("td").nth(2)).to_have_text("greeting")
    expect(row(page, greeted).locator("td.time").nth(1)).not_to_have_text("-")
    for alo_id, status in ((paused, "paused"), (failed, "failed"), (cancelled, "cancelled")):
        expect(row(page, alo_id).locator("td").nth(1)).to_have_text(status)
    everything = api.get("/v1/alos", params={"limit": 1000}).json()["alos"]
    expect(page.locator('.count[data-status="all"]')).to_have_text(str(len(everything)))
    for status in ("running", "paused", "completed", "failed", "cancelled", "timed_out"):
        expected = sum(alo["status"] == status for alo in everything)
        expect(page.locator(f'.count[data-status="{status}"]')).to_have_text(str(expected))
    expect(page.locator("#live-state")).to_have_text("live")
    page.screenshot(path=screenshots / "list.png", full_page=True)


def test_a_filter_narrows_the_list(page: Page, server: Served, api: httpx.Client) -> None:
    blue, red = fresh("blue"), fresh("red")
    start(api, blue, metadata={"team": "blue"})
    start(api, red, metadata={"team": "red"})
    page.goto(f"{server.base_url}/ui")
    expect(row(page, red)).to_be_visible()

    page.get_by_label("Metadata").fill("team=blue")
    page.get_by_role("button", name="Filter").click()

    expect(row(page, red)).to_have_count(0)
    expect(row(page, blue)).to_be_visible()
    expect(page).to_have_url(re.compile(r"metadata=team%3Dblue"))

    page.get_by_label("Metadata").fill("")
    page.get_by_label("completed").check()
    page.get_by_role("button", name="Filter").click()
    expect(row(page, blue)).to_have_count(0)
    expect(page.locator("#live tbody tr").first).to_contain_text("completed")


def test_the_alo_page_shows_its_timeline(
    page: Page, server: Served, api: httpx.Client, screenshots: Path
) -> None:
    alo_id = fresh("greet")
    start(api, alo_id, operation="greeting", input={"name": "Grace"}, metadata={"shop": "eu"})
    assert api.get(f"/v1/alos/{alo_id}/result", params={"wait": "10s"}).status_code == 200
    page.goto(f"{server.base_url}/ui")

    row(page, alo_id).get_by_role("link", name=alo_id).click()

    expect(page).to_have_url(f"{server.base_url}/ui/alos/{alo_id}")
    expect(page.locator("#status")).to_have_text("completed")
    events = page.locator("table.timeline tbody tr td.event")
    expect(events).to_have_text(["Started", "Completed"])
    expect(page.locator("#result")).to_contain_text('"greeting": "Hello, Grace!"')
    expect(page.locator("pre.json").first).to_contain_text('"name": "Grace"')
    expect(page.locator("table.attempts tbody tr")).to_have_count(1)
    expect(page.locator("table.attempts tbody tr td").nth(3)).to_have_text("completed")
    page.screenshot(path=screenshots / "alo.png", full_page=True)


def test_a_cancel_from_the_console_cancels_the_alo(
    page: Page, server: Served, api: httpx.Client, screenshots: Path
) -> None:
    alo_id = fresh("order")
    start(api, alo_id, metadata={"team": "ops"}, result_urls=["http://127.0.0.1:9/hook"])
    page.goto(f"{server.base_url}/ui/alos/{alo_id}")
    expect(page.locator("#status")).to_have_text("running")
    page.screenshot(path=screenshots / "alo-running.png", full_page=True)
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_label("reason").fill("customer changed their mind")
    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#status")).to_have_text("cancelled")
    assert asked == [f"Cancel ALO {alo_id}?"]
    info = api.get(f"/v1/alos/{alo_id}").json()
    assert info["status"] == "cancelled"
    assert info["failure"]["message"] == "customer changed their mind"
    expect(page.locator("table.timeline tbody tr td.event").last).to_have_text(
        re.compile("Cancelled|DeliveriesDue|DeliveryAbandoned|DeliveriesFinished")
    )
    expect(page.locator(".actions")).to_have_count(0)


def test_a_completion_made_through_the_api_appears_without_a_reload(
    page: Page, server: Served, api: httpx.Client
) -> None:
    alo_id = fresh("order")
    start(api, alo_id)
    page.goto(f"{server.base_url}/ui")
    status = row(page, alo_id).locator("td").nth(1)
    expect(status).to_have_text("running")
    page.evaluate("window.loadedOnce = true")

    completed = api.post(f"/v1/alos/{alo_id}/complete", json={"result": {"ok": True}})
    assert completed.status_code == 200, completed.text

    expect(status).to_have_text("completed")
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"


def test_the_log_page_draws_the_rate_and_the_lifetimes(
    page: Page, server: Served, api: httpx.Client, screenshots: Path
) -> None:
    for _ in range(3):
        start(api, fresh("log"))
    page.goto(f"{server.base_url}/ui/log")
    total = len(api.get("/v1/alos", params={"limit": 1000}).json()["alos"])
    expect(page.locator("#alo-count")).to_have_text(f"{total:,}")
    expect(page.locator("#rate rect.bar")).to_have_count(61)  # 60 buckets and the legend
    lifetimes = page.locator("#lifetimes")
    expect(lifetimes).to_be_visible()
    page.wait_for_function("document.getElementById('lifetimes').naturalWidth > 0")
    page.screenshot(path=screenshots / "log.png", full_page=True)
