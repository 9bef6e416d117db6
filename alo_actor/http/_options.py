"""``OPTIONS`` on every path, naming all of the path's methods, as its 405 does.

Litestar adds an OPTIONS handler to a path when its first handler is registered and
keeps it when another handler joins the path, so ``OPTIONS /v1/alos`` said
``Allow: OPTIONS, POST`` while ``DELETE /v1/alos`` answered 405 with ``GET`` too.
A path that has its own OPTIONS handler gets no automatic one.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Response, route
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.types import ControllerRouterHandler


def with_options(handlers: Sequence[ControllerRouterHandler]) -> list[ControllerRouterHandler]:
    """``handlers`` and an OPTIONS handler for each of their paths, put first: Litestar
    adds its own to a path only if the path's first handler has no OPTIONS."""
    methods: dict[str, set[str]] = {}
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                methods.setdefault(path, set()).update(handler.http_methods)
    extra = [
        _options(path, {*verbs, "OPTIONS"})
        for path, verbs in methods.items()
        if "OPTIONS" not in verbs
    ]
    return [*extra, *handlers]


def _options(path: str, methods: set[str]) -> HTTPRouteHandler:
    allow = ", ".join(sorted(methods))

    async def options() -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": allow})

    handler: HTTPRouteHandler = route(
        path,
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        name=f"options {path}",
    )(options)
    return handler
