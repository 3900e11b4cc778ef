"""``/docs``: Swagger UI, from the files of the ``swagger-ui-py`` package (Swagger UI 5, which
reads OpenAPI 3.1) served by the gateway itself: FastAPI's default page loads them from a CDN,
which a locked-down network (or CI) cannot reach."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def assets_folder() -> Path:
    """Swagger UI's files in the installed package, found without importing it (its module
    loads a template engine the gateway does not need)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install(app: FastAPI, title: str) -> None:
    app.mount(ASSETS, StaticFiles(directory=assets_folder()), name="swagger-ui")

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title}: docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
