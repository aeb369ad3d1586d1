"""Role decisions at app build time: every route must have one, and the OpenAPI document says
which (`x-role` on each operation, plus the security schemes an operator or admin route takes)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.auth.guard import route_role
from api.auth.keys import Role

__all__ = ["DOC_ROUTES", "RouteInfo", "check_roles", "install_openapi", "iter_routes"]

DOC_ROUTES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""FastAPI's own documentation routes: public, and not FastAPI API routes."""

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key (ctk_...)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "citytraffic_session",
        "description": "set by POST /auth/login",
    },
}


@dataclass(frozen=True, slots=True)
class RouteInfo:
    path: str  # the template, e.g. /api/v1/incidents/{incident_id}/actions
    methods: frozenset[str]  # empty for a WebSocket route
    websocket: bool
    role: Role | None


def iter_routes(app: FastAPI) -> Iterator[RouteInfo]:
    """Every route as served, with the dependencies of the routers it was included by.

    FastAPI >= 0.16x includes routers lazily (`app.routes` holds the included routers, and
    `fastapi.routing.iter_route_contexts` gives the effective routes); older versions copy
    each route into `app.routes`. Both give the same RouteInfo here."""
    try:
        from fastapi.routing import iter_route_contexts

        routes: Iterator[object] = iter(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before lazy inclusion
        routes = iter(app.routes)
    for route in routes:
        path = getattr(route, "path_format", None) or getattr(route, "path", None) or "?"
        methods = getattr(route, "methods", None)
        yield RouteInfo(
            path=path,
            methods=frozenset(methods or ()),
            websocket="WebSocket" in type(getattr(route, "original_route", route)).__name__,
            role=route_role(route),
        )


def check_roles(app: FastAPI) -> None:
    """Raise RuntimeError naming every route that has no role decision."""
    missing = [r.path for r in iter_routes(app) if r.role is None and r.path not in DOC_ROUTES]
    if missing:
        raise RuntimeError(
            "routes without a role decision (include their router with a RoleGuard from "
            f"api.auth in create_app): {', '.join(sorted(missing))}"
        )


def install_openapi(app: FastAPI, cookie_name: str) -> None:
    """Add `x-role` and the security requirements of operator/admin routes to the spec."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemes = dict(SECURITY_SCHEMES)
        schemes["session"] = {**schemes["session"], "name": cookie_name}
        spec.setdefault("components", {})["securitySchemes"] = schemes
        for route in iter_routes(app):
            for method in route.methods:
                operation = spec["paths"].get(route.path, {}).get(method.lower())
                if operation is None or route.role is None:
                    continue
                operation["x-role"] = route.role.label
                if route.role >= Role.OPERATOR:
                    operation["security"] = [{"bearer": []}, {"apiKey": []}, {"session": []}]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
