"""The console of a server started with ``--token``, in a real browser: it asks for the
token once, and a form on another origin cannot make it act."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.console.support import alo_serve, fresh
from tests.http.conftest import GREETING_APP, Served

TOKEN = "s3cret-console-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("console-token")
    with alo_serve(folder, "--app", GREETING_APP, "--token", TOKEN) as served:
        yield served


@pytest.fixture(scope="module")
def api(server: Served) -> Iterator[httpx.Client]:
    with server.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


class Attacker:
    """Another site: a page on another port whose form posts to the console."""

    def __init__(self) -> None:
        self.html = b""
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(attacker.html)))
                self.end_headers()
                self.wfile.write(attacker.html)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def form(self, action: str, fields: dict[str, str]) -> None:
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        self.html = (
            f'<!doctype html><form method="post" action="{action}">{inputs}'
            '<button type="submit">Win a prize</button></form>'
        ).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    site = Attacker()
    try:
        yield site
    finally:
        site.close()


def sign_in(page: Page, server: Served) -> None:
    page.goto(f"{server.base_url}/ui")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}/ui")


def test_the_console_asks_for_the_token_once(
    page: Page, browser: BrowserContext, server: Served, screenshots: Path
) -> None:
    page.goto(f"{server.base_url}/ui/log")
    expect(page).to_have_url(f"{server.base_url}/ui/login?next=%2Fui%2Flog")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.screenshot(path=screenshots / "sign-in.png", full_page=True)

    page.get_by_label("Token").fill("a wrong guess")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the token")

    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}/ui/log")
    expect(page.get_by_role("heading", name="The log")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    (cookie,) = browser.cookies()
    assert cookie["name"] == "alo_console"
    assert cookie["path"] == "/ui"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]

    second = browser.new_page()
    try:
        second.goto(f"{server.base_url}/ui")
        expect(second).to_have_url(f"{server.base_url}/ui")
        expect(second.locator("table.alos")).to_be_visible()
    finally:
        second.close()


def test_a_form_on_another_origin_cannot_cancel(
    page: Page, server: Served, api: httpx.Client, attacker: Attacker
) -> None:
    sign_in(page, server)
    alo_id = fresh("order")
    assert api.post("/v1/alos", json={"id": alo_id}).status_code == 201
    page.goto(f"{server.base_url}/ui/alos/{alo_id}")
    csrf = page.locator('.action-cancel input[name="csrf"]').get_attribute("value")
    assert csrf

    # Same site (127.0.0.1), another origin (port): the browser sends the cookie, so
    # it is the origin check that refuses, even with a leaked CSRF token.
    attacker.form(f"{server.base_url}/ui/alos/{alo_id}/cancel", {"csrf": csrf})
    page.goto(f"http://127.0.0.1:{attacker.port}/")
    with page.expect_response(f"{server.base_url}/ui/alos/{alo_id}/cancel") as answer:
        page.get_by_role("button", name="Win a prize").click()
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("another origin")

    # Another site (localhost): SameSite=Strict keeps the cookie home, so the
    # request is not even signed in.
    page.goto(f"http://localhost:{attacker.port}/")
    with page.expect_response(f"{server.base_url}/ui/alos/{alo_id}/cancel") as answer:
        page.get_by_role("button", name="Win a prize").click()
    assert answer.value.status == 401

    assert api.get(f"/v1/alos/{alo_id}").json()["status"] == "running"


def test_the_console_s_own_form_still_works_after_signing_in(
    page: Page, server: Served, api: httpx.Client
) -> None:
    sign_in(page, server)
    alo_id = fresh("order")
    assert api.post("/v1/alos", json={"id": alo_id}).status_code == 201
    page.goto(f"{server.base_url}/ui/alos/{alo_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#status")).to_have_text("paused")
    assert api.get(f"/v1/alos/{alo_id}").json()["status"] == "paused"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#status")).to_have_text("running")
    assert api.get(f"/v1/alos/{alo_id}").json()["status"] == "running"
