"""Serves the reviewer web page (static files under /ui/) with a strict Content-Security-Policy.

The page is static: every piece of data comes from the authenticated JSON API, so these routes
need no credentials, and the CSP forbids any script, style or connection not from this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).parent / "static"
# A fixed list, not a directory mount: nothing else under the package can be fetched by path.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "item.js": "text/javascript; charset=utf-8",
    "diff.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", headers=HEADERS)


@router.get("/ui/")
async def ui_index() -> FileResponse:
    return _file("index.html")


@router.get("/ui/{name}")
async def ui_file(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "not found")
    return _file(name)


def _file(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type=FILES[name], headers=HEADERS)
