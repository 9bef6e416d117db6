"""The console's pages: Jinja2 templates from the package, answered as HTML."""

from __future__ import annotations

import datetime
from typing import Any

import jinja2
import msgspec
from litestar import Response
from litestar.datastructures import Cookie
from litestar.enums import MediaType

from alo_actor.http.console._access import CSRF_FIELD, access_of
from alo_actor.logtools import shorten, to_json

# Only what the package serves: no inline script or style, no frames, no other hosts.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_SHOWN = 100_000  # characters of an input or result shown on a page


def _when(value: datetime.datetime | float | None) -> str:
    """A time as ``2026-01-31 12:00:00.123Z`` (UTC, to the millisecond)."""
    if value is None:
        return "-"
    if not isinstance(value, datetime.datetime):
        try:
            value = datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return repr(value)
    return value.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", "Z")


def _pretty(value: Any) -> str:
    """A value as indented JSON, cut (saying so) past MAX_SHOWN characters."""
    text = msgspec.json.format(to_json(value), indent=2).decode()
    if len(text) > MAX_SHOWN:
        return f"{text[:MAX_SHOWN]}\n… (the first {MAX_SHOWN:,} of {len(text):,} characters)"
    return text


def _compact(value: Any) -> str:
    """A value as one line of JSON, long parts shortened (as ``alo log show`` does)."""
    return to_json(shorten(value)).decode()


_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("alo_actor.http.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(when=_when, pretty=_pretty, compact=_compact)


def page(
    request: Any,
    template: str,
    status_code: int = 200,
    *,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    """``template`` rendered with ``context`` (plus what every page shows) as HTML."""
    access = access_of(request)
    html = _environment.get_template(template).render(
        csrf_field=CSRF_FIELD,
        csrf_token=access.csrf_token,
        # Sign out only where there is something to sign out of.
        signed_in=access.token is not None and access.signed_in(request),
        **context,
    )
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=_SECURITY_HEADERS,
        cookies=cookies,
    )
