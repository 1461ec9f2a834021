"""Limits on what an HTTP request may carry, as pure ASGI middleware.

BodySizeLimit (HITL_MAX_REQUEST_BYTES): a `Content-Length` over the limit is refused before any
byte of the body is read. A body without one (chunked) is counted as it arrives: once it grows
past the limit the application's reading fails, whatever it would have answered is dropped, and
the client gets the same 413. Either way the body is never buffered beyond the limit.

RefuseNul: no NUL character (U+0000) in the path, the query or a header. PostgreSQL's text
cannot hold one: it failed in the driver, and the error was taken for an outage (a 503 saying
"retry", which a client would do forever). Body fields are checked by the request models
(`models.no_nul`, the same rule and message).
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL_NOT_ALLOWED = "NUL characters (\\u0000) are not allowed"


class _TooLarge(Exception):
    """Raised into the application when the body it is reading passes the limit."""


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await _refuse(send, 400, "Content-Length is not a non-negative integer")
            return
        if declared > self.max_bytes:
            await self._refuse_too_large(send)
            return
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the application's answer to a body it could not read: ours replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse_too_large(send)

    async def _refuse_too_large(self, send: Send) -> None:
        await _refuse(
            send,
            413,
            f"request body is larger than the limit of {self.max_bytes} bytes "
            "(HITL_MAX_REQUEST_BYTES)",
        )


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = nul_in(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        await _refuse(send, 422, f"{where}: {NUL_NOT_ALLOWED}; remove them")


def nul_in(scope: Scope) -> str | None:
    """Which part of the request line or headers holds a NUL (percent-encoded or not)."""
    if "\x00" in scope["path"]:  # already percent-decoded by the server
        return "path"
    if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        return "query"
    for name, value in scope["headers"]:
        if b"\x00" in value:
            return f"header {name.decode('latin-1')}"
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared length; 0 when none is declared; None when it is not a valid number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return 0


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body must not be taken for the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
