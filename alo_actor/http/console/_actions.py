"""The console's buttons: cancel, pause, resume, complete and fail one ALO.

Each is a form POST carrying the CSRF token (the page asks for a confirmation
first). Done, it answers 303 to the ALO's page; refused, the page again with the
reason and the status code the API would give.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Response, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect

from alo_actor._errors import AloError, InvalidArgument, NotFound
from alo_actor._model import AloInfo, Failure
from alo_actor.http._service import AnyRequest, service_of
from alo_actor.http.console._access import CSRF_FIELD, access_of, console_guard
from alo_actor.http.console._errors import status_of_error
from alo_actor.http.console._pages import detail_page
from alo_actor.http.console._views import metadata_pairs

Form = URLEncodedBody[dict[str, str]]


def _json_field(form: dict[str, str], name: str, *, required: bool) -> Any:
    text = form.get(name, "").strip()
    if not text:
        if required:
            raise InvalidArgument(f'{name} is required: a JSON value such as {{"ok": true}}')
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"{name} is not JSON: {exc}") from None


async def _act(request: AnyRequest, alo_id: str, verb: str, form: dict[str, str]) -> AloInfo:
    aio = service_of(request).system.aio
    if verb == "cancel":
        return await aio.cancel(alo_id, form.get("reason", "").strip() or None)
    if verb == "pause":
        return await aio.pause(alo_id)
    if verb == "resume":
        return await aio.resume(alo_id)
    if verb == "complete":
        result = _json_field(form, "result", required=True)
        pairs = metadata_pairs(form.get("result_metadata", ""))
        return await aio.complete(alo_id, result, pairs or None)
    if verb == "fail":
        message = form.get("message", "").strip()
        if not message:
            raise InvalidArgument("message is required: say why the ALO failed")
        failure = Failure(
            message=message,
            type=form.get("type", "").strip() or "Error",
            details=_json_field(form, "details", required=False),
        )
        return await aio.fail(alo_id, failure)
    raise NotFound(f"the console has no action {verb!r}")


@post("/alos/{alo_id:str}/{verb:str}", guards=[console_guard], status_code=303)
async def act(
    request: AnyRequest, alo_id: FromPath[str], verb: FromPath[str], data: Form
) -> Response[Any]:
    """Apply ``verb`` to the ALO and show its page again."""
    access_of(request).check_csrf(data.get(CSRF_FIELD))
    try:
        await _act(request, alo_id, verb, data)
    except AloError as exc:
        status = status_of_error(exc)
        return await detail_page(request, alo_id, status_code=status, error=str(exc))
    return Redirect(f"/ui/alos/{quote(alo_id, safe='')}", status_code=303)
