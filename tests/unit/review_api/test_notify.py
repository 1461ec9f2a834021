"""Email alerts reach an SMTP server (a local sink speaking just enough SMTP) without draft text."""

from __future__ import annotations

import asyncio
import socketserver
import threading

from review_api.notify import Notifier, SmtpTarget


class _Sink(socketserver.StreamRequestHandler):
    received: list[str] = []

    def handle(self) -> None:
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 sink\r\n")
            elif command == "DATA":
                self.wfile.write(b"354 go on\r\n")
                body = []
                while (row := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(row.decode())
                _Sink.received.append("".join(body))
                self.wfile.write(b"250 queued\r\n")
            elif command == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_sla_and_escalation_alerts_are_emailed() -> None:
    server = socketserver.TCPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = SmtpTarget(
            host="127.0.0.1",
            port=server.server_address[1],
            starttls=False,
            username=None,
            password=None,
            sender="gate@example.org",
            recipients=("leads@example.org",),
        )
        event = {
            "event": "sla_breached",
            "draft_id": "d-9",
            "content_type": "legal_clause",
            "tier": "senior",
            "at": "2026-11-02T09:30:00+00:00",
        }
        asyncio.run(Notifier(None, None, target).send([event]))
    finally:
        server.shutdown()
    [mail] = _Sink.received
    assert "Subject: [HITL gate] sla_breached: d-9" in mail
    assert "To: leads@example.org" in mail
    assert "content_type: legal_clause" in mail


def test_an_unreachable_mail_server_does_not_raise() -> None:
    target = SmtpTarget(
        host="127.0.0.1",
        port=1,
        starttls=False,
        username=None,
        password=None,
        sender="gate@example.org",
        recipients=("x@example.org",),
    )
    asyncio.run(Notifier(None, None, target).send([{"event": "escalated", "draft_id": "d"}]))
