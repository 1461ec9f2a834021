"""Notifications on escalation and SLA breach, sent after the commit, best effort:

- a signed webhook: JSON body, `X-HITL-Signature: sha256=<hex>` = HMAC-SHA256 of the exact body
  bytes with the configured secret, so a receiver can check it came from us;
- an email over SMTP, when a server and recipients are configured.
No draft text is ever sent: ids, content type, tier, reason and time only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]


def email_for(event: dict[str, Any], target: SmtpTarget) -> EmailMessage:
    message = EmailMessage()
    message["From"] = target.sender
    message["To"] = ", ".join(target.recipients)
    message["Subject"] = f"[HITL gate] {event.get('event')}: {event.get('draft_id')}"
    message.set_content("\n".join(f"{k}: {v}" for k, v in sorted(event.items())))
    return message


def _send_mail(target: SmtpTarget, messages: list[EmailMessage]) -> None:
    with smtplib.SMTP(target.host, target.port, timeout=10) as smtp:
        if target.starttls:
            smtp.starttls()
        if target.username and target.password:
            smtp.login(target.username, target.password)
        for message in messages:
            smtp.send_message(message)


class Notifier:
    def __init__(self, url: str | None, secret: str | None, smtp: SmtpTarget | None = None) -> None:
        self.url = url
        self.secret = secret
        self.smtp = smtp

    async def send(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        await self._webhook(events)
        if self.smtp is not None and self.smtp.recipients:
            try:
                messages = [email_for(e, self.smtp) for e in events]
                await asyncio.to_thread(_send_mail, self.smtp, messages)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning(
                    "email alert not sent", extra={"fields": {"reason": type(exc).__name__}}
                )

    async def _webhook(self, events: list[dict[str, Any]]) -> None:
        if not self.url:
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
