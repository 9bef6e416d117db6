"""The console over plain HTTP: its assets, its errors, its forms' protections, and
signing in with a token (the browser tests show the same from a page)."""

from __future__ import annotations

import datetime
import html
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import markupsafe
import pytest

from alo_actor._clock import SystemClock
from alo_actor.http import console
from alo_actor.http.console._views import PAGE_SIZE
from tests.conftest import wait_until
from tests.console.support import alo_serve, fresh
from tests.http.conftest import GREETING_APP, Served
from tests.receiver import serving

TOKEN = "console-http-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with alo_serve(tmp_path_factory.mktemp("console-open"), "--app", GREETING_APP) as served:
        yield served


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with alo_serve(tmp_path_factory.mktemp("console-token"), "--token", TOKEN) as served:
        yield served


@pytest.fixture
def ui(open_server: Served) -> Iterator[httpx.Client]:
    """A client that posts the console's forms as the console's own pages do."""
    origin = {"Origin": open_server.base_url}
    with open_server.client(headers=origin, follow_redirects=False) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_every_asset_comes_from_the_package(ui: httpx.Client) -> None:
    page = ui.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert links
    assert all(link.startswith(("/", "data:")) and not link.startswith("//") for link in links)
    for name in ("htmx.min.js", "console.js", "console.css"):
        asset = ui.get(f"/ui/static/{name}")
        assert asset.status_code == 200, name
        assert asset.content == (console.STATIC / name).read_bytes()
    assert (
        ui.get("/ui/static/htmx.min.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_the_openapi_document_has_the_feed_and_not_the_console(ui: httpx.Client) -> None:
    paths = ui.get("/schema/openapi.json").json()["paths"]
    assert "/v1/changes" in paths
    assert "text/event-stream" in paths["/v1/changes"]["get"]["responses"]["200"]["content"]
    assert not [path for path in paths if path.startswith("/ui")]


def test_pages_say_what_is_wrong(ui: httpx.Client) -> None:
    missing = ui.get("/ui/alos/nobody-has-this-id")
    assert missing.status_code == 404
    assert "No such ALO" in missing.text
    bad = ui.get("/ui", params={"created_after": "the day before yesterday"})
    assert bad.status_code == 400
    assert "created after" in bad.text
    bad = ui.get("/ui", params={"metadata": "team"})
    assert bad.status_code == 400
    assert "not KEY=VALUE" in bad.text


def test_the_log_page_and_its_pictures(ui: httpx.Client) -> None:
    # Two commits, a round trip apart: the log spans some time, drawn in 60 buckets.
    assert ui.post("/v1/alos", json={"id": fresh()}).status_code == 201
    assert ui.post("/v1/alos", json={"id": fresh()}).status_code == 201
    page = ui.get("/ui/log")
    assert page.status_code == 200
    assert len(re.findall(r'<rect class="bar" x=', page.text)) == 60 + 1  # and the legend's
    png = ui.get("/ui/log/lifetimes.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_an_action_wants_the_csrf_token_and_the_console_s_origin(ui: httpx.Client) -> None:
    alo_id = fresh()
    assert ui.post("/v1/alos", json={"id": alo_id}).status_code == 201
    token = csrf_of(ui.get(f"/ui/alos/{alo_id}"))
    action = f"/ui/alos/{alo_id}/cancel"

    assert ui.post(action, data={"reason": "no token"}).status_code == 403
    assert ui.post(action, data={"csrf": "0" * 64}).status_code == 403
    elsewhere = {"Origin": "http://127.0.0.1:1"}
    assert ui.post(action, data={"csrf": token}, headers=elsewhere).status_code == 403
    opaque = {"Origin": "null"}
    assert ui.post(action, data={"csrf": token}, headers=opaque).status_code == 403
    assert ui.get(f"/v1/alos/{alo_id}").json()["status"] == "running"

    done = ui.post(action, data={"csrf": token, "reason": "by the console"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/alos/{alo_id}"
    info = ui.get(f"/v1/alos/{alo_id}").json()
    assert (info["status"], info["failure"]["message"]) == ("cancelled", "by the console")


@pytest.mark.parametrize(
    ("verb", "form", "says"),
    [
        ("complete", {"result": "{not json"}, "result is not JSON"),
        ("complete", {"result": ""}, "result is required"),
        ("complete", {"result": "1", "result_metadata": "oops"}, "not KEY=VALUE"),
        ("fail", {"message": " "}, "message is required"),
        ("fail", {"message": "m", "details": "[1,"}, "details is not JSON"),
        ("explode", {}, "no action &#39;explode&#39;"),
    ],
)
def test_a_bad_action_is_refused_and_changes_nothing(
    ui: httpx.Client, verb: str, form: dict[str, str], says: str
) -> None:
    alo_id = fresh()
    assert ui.post("/v1/alos", json={"id": alo_id}).status_code == 201
    token = csrf_of(ui.get(f"/ui/alos/{alo_id}"))
    refused = ui.post(f"/ui/alos/{alo_id}/{verb}", data={"csrf": token, **form})
    assert refused.status_code in (400, 404)
    assert says in refused.text
    assert 'role="alert"' in refused.text
    assert ui.get(f"/v1/alos/{alo_id}").json()["status"] == "running"


def test_complete_and_fail_from_the_console(ui: httpx.Client) -> None:
    done, failed = fresh(), fresh()
    for alo_id in (done, failed):
        assert ui.post("/v1/alos", json={"id": alo_id}).status_code == 201
    token = csrf_of(ui.get(f"/ui/alos/{done}"))
    form = {"csrf": token, "result": '{"ok": true}', "result_metadata": "by=console"}
    assert ui.post(f"/ui/alos/{done}/complete", data=form).status_code == 303
    assert ui.get(f"/v1/alos/{done}/result").json() == {
        "result": {"ok": True},
        "result_metadata": {"by": "console"},
    }
    form = {"csrf": token, "message": "out of stock", "type": "Stock", "details": '{"sku": 7}'}
    assert ui.post(f"/ui/alos/{failed}/fail", data=form).status_code == 303
    failure = ui.get(f"/v1/alos/{failed}").json()["failure"]
    assert failure == {
        "message": "out of stock",
        "metadata": {"type": "Stock"},
        "details": {"sku": 7},
    }
    page = ui.get(f"/ui/alos/{failed}")
    assert "out of stock" in page.text
    assert 'class="actions"' not in page.text


# -- with a token ------------------------------------------------------------------------


def test_the_console_sends_a_stranger_to_sign_in(token_server: Served) -> None:
    with token_server.client(follow_redirects=False) as client:
        page = client.get("/ui", params={"status": "running"})
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%3Fstatus%3Drunning"
        htmx = client.get("/ui", headers={"HX-Request": "true"})
        assert (htmx.status_code, htmx.headers["hx-redirect"]) == (401, "/ui/login?next=%2Fui")
        assert client.get("/ui/changes").status_code == 401
        assert client.post("/ui/alos/x/cancel", data={"csrf": "x"}).status_code == 401
        assert client.get("/ui/login").status_code == 200
        assert client.get("/ui/static/console.css").status_code == 200


def test_the_right_token_buys_a_console_cookie_and_nothing_more(token_server: Served) -> None:
    origin = {"Origin": token_server.base_url}
    with token_server.client(follow_redirects=False, headers=origin) as client:
        wrong = client.post("/ui/login", data={"token": "guess", "next": "/ui/log"})
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers
        right = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/log"})
        assert right.status_code == 303
        assert right.headers["location"] == "/ui/log"
        cookie = right.headers["set-cookie"]
        assert cookie.startswith("alo_console=")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes
        assert "Path=/ui;" in cookie and "samesite=strict" in cookie.lower()
        assert TOKEN not in cookie

        assert client.get("/ui/log").status_code == 200  # the cookie, kept by the client
        assert client.get("/v1/alos").status_code == 401  # it does not open the API
        assert client.get("/v1/alos", headers=BEARER).status_code == 200

        page = client.get("/ui")
        out = client.post("/ui/logout", data={"csrf": csrf_of(page)})
        assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert client.get("/ui").status_code == 303


def test_the_bearer_token_opens_the_console_too(token_server: Served) -> None:
    with token_server.client(headers=BEARER) as client:
        assert client.get("/ui").status_code == 200
        assert client.get("/ui/log/lifetimes.png").status_code == 200


@pytest.mark.parametrize(
    "next_page", ["https://elsewhere.example/", "//elsewhere.example", "/v1/alos"]
)
def test_signing_in_never_sends_the_browser_off_the_console(
    token_server: Served, next_page: str
) -> None:
    origin = {"Origin": token_server.base_url}
    with token_server.client(follow_redirects=False, headers=origin) as client:
        right = client.post("/ui/login", data={"token": TOKEN, "next": next_page})
        assert right.headers["location"] == "/ui"


def test_signing_in_from_another_origin_is_refused(token_server: Served) -> None:
    with token_server.client(follow_redirects=False) as client:
        refused = client.post(
            "/ui/login", data={"token": TOKEN}, headers={"Origin": "http://127.0.0.1:1"}
        )
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers


def raw_get(served: Served, target: str) -> tuple[int, bytes]:
    """A GET of ``target`` exactly as written (clients normalize ``..`` away)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "target", ["/ui/../v1/alos", "/ui/%2e%2e/v1/alos", "/ui%2F..%2Fv1%2Falos", "/uiv1/alos"]
)
def test_the_console_s_prefix_opens_no_other_route(token_server: Served, target: str) -> None:
    status, body = raw_get(token_server, target)
    assert status in (401, 404), body
    assert b'"alos"' not in body


def test_the_package_ships_the_templates_and_assets() -> None:
    root = Path(console.__file__).parent
    for name in ("base.html", "list.html", "detail.html", "log.html", "login.html"):
        assert (root / "templates" / name).is_file()
    assert (console.STATIC / "htmx.LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_the_list_pages_with_a_cursor(ui: httpx.Client) -> None:
    batch = fresh()
    ids = [f"{batch}-{n:02}" for n in range(PAGE_SIZE + 5)]
    for alo_id in ids:
        assert (
            ui.post("/v1/alos", json={"id": alo_id, "metadata": {"batch": batch}}).status_code
            == 201
        )
    first = ui.get("/ui", params={"metadata": f"batch={batch}"})
    assert re.findall(r'<tr data-id="([^"]+)"', first.text) == ids[:PAGE_SIZE]
    (next_page,) = re.findall(r'href="([^"]+)" rel="next"', first.text)
    second = ui.get(html.unescape(next_page))
    assert re.findall(r'<tr data-id="([^"]+)"', second.text) == ids[PAGE_SIZE:]
    assert 'rel="next"' not in second.text
    assert "first page" in second.text


def test_the_list_filters_on_a_time_range(ui: httpx.Client) -> None:
    alo_id = fresh()
    created = ui.post("/v1/alos", json={"id": alo_id, "metadata": {"range": alo_id}}).json()
    moment = datetime.datetime.fromisoformat(created["created_at"])
    pairs = {"metadata": f"range={alo_id}"}

    def shown(**bounds: str) -> list[str]:
        page = ui.get("/ui", params={**pairs, **bounds})
        assert page.status_code == 200, page.text
        return re.findall(r'<tr data-id="([^"]+)"', page.text)

    second = datetime.timedelta(seconds=1)
    # What a datetime-local field sends (no offset: the console shows UTC), or RFC 3339.
    local = "%Y-%m-%dT%H:%M:%S"
    assert shown(created_after=(moment - second).strftime(local)) == [alo_id]
    assert shown(created_after=(moment + second).strftime(local)) == []
    assert shown(created_before=(moment + second).isoformat()) == [alo_id]
    assert shown(created_before=(moment - second).isoformat()) == []


def test_odd_ids_survive_the_console_s_links_and_forms(ui: httpx.Client) -> None:
    tag = fresh()
    alo_id = f'{tag}?a#b%c&d<e>"f'
    assert ui.post("/v1/alos", json={"id": alo_id, "metadata": {"tag": tag}}).status_code == 201
    quoted = quote(alo_id, safe="")
    assert f'href="/ui/alos/{quoted}"' in ui.get("/ui", params={"metadata": f"tag={tag}"}).text
    page = ui.get(f"/ui/alos/{quoted}")
    assert page.status_code == 200
    assert f'<span class="id">{markupsafe.escape(alo_id)}</span>' in page.text
    done = ui.post(f"/ui/alos/{quoted}/cancel", data={"csrf": csrf_of(page)})
    assert (done.status_code, done.headers["location"]) == (303, f"/ui/alos/{quoted}")
    assert ui.get(f"/v1/alos/{quoted}").json()["status"] == "cancelled"


def test_the_alo_page_shows_each_result_url_s_delivery(ui: httpx.Client) -> None:
    alo_id = fresh()
    with serving(SystemClock()) as receiver:
        hook = receiver.url("/hook")
        assert ui.post("/v1/alos", json={"id": alo_id, "result_urls": [hook]}).status_code == 201
        rows = re.compile(r'<td class="url">([^<]+)</td><td>([^<]+)</td>')
        assert rows.findall(ui.get(f"/ui/alos/{alo_id}").text) == [(hook, "not due")]
        assert ui.post(f"/v1/alos/{alo_id}/complete", json={"result": 1}).status_code == 200
        receiver.wait_count("/hook", 1, "the outcome's POST")

        def delivered() -> bool:
            return rows.findall(ui.get(f"/ui/alos/{alo_id}").text) == [(hook, "delivered")]

        wait_until(delivered, what="the delivery to be recorded")
    events = re.findall(r'<td class="event">([A-Za-z]+)</td>', ui.get(f"/ui/alos/{alo_id}").text)
    assert events[:3] == ["Started", "Completed", "DeliveriesDue"]
    assert "Delivered" in events
