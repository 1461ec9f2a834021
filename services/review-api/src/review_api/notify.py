"""Notifications on escalation and SLA breach: a signed webhook (best effort, after commit).

The body is JSON; `X-HITL-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes
with the configured secret, so a receiver can check it came from us. No draft text is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    def __init__(self, url: str | None, secret: str | None) -> None:
        self.url = url
        self.secret = secret

    async def send(self, events: list[dict[str, Any]]) -> None:
        if not self.url or not events:
            return
        async with httpx.AsyncClient(timeout=5.0) as client:
            for event in events:
                body = json.dumps(event, default=str).encode()
                headers = {"content-type": "application/json"}
                if self.secret:
                    headers["X-HITL-Signature"] = signature(self.secret, body)
                try:
                    response = await client.post(self.url, content=body, headers=headers)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    log.warning(
                        "webhook not delivered",
                        extra={
                            "fields": {"event": event.get("event"), "reason": type(exc).__name__}
                        },
                    )
