"""What the review-api tests share: routed drafts, the app in-process (per test, or one per module
on its own event loop), reviewers with API keys, a local identity provider, a live server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import free_port, wait_until_healthy
from hitl_schemas import RoutedDraft, RouteReason, examples
from review_api import service
from review_api.app import create_app
from review_api.config import ReviewApiSettings
from review_api.db import ApiKey, Reviewer
from review_api.store import hash_key, new_api_key

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def routed(
    draft_id: str,
    *,
    content_type: str = "customer_email",
    tier: str = "junior",
    priority: str = "normal",
    due_in: float = 3600,
    **draft_fields: Any,
) -> RoutedDraft:
    now = datetime.now(UTC)
    return examples.routed_draft(
        draft=examples.draft(draft_id=draft_id, content_type=content_type, **draft_fields),
        reason=RouteReason(kind="low_confidence"),
        audit=False,
        audit_q=1.0,
        tier=tier,
        priority=priority,
        routed_at=now,
        due_at=now + timedelta(seconds=due_in),
    )


@asynccontextmanager
async def running(settings: ReviewApiSettings, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, and a client calling it in-process (`client.app` is the app)."""
    app = create_app(settings, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://review") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


class AppThread:
    """One app for many tests: its lifespan and every coroutine given to `run` execute on one
    event loop in a thread, so a module pays for the start (database, Kafka clients) once."""

    def __init__(self, settings: ReviewApiSettings, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._running = running(settings, **kwargs)
        self.client: httpx.AsyncClient = self.run(self._running.__aenter__())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.run(self._running.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()


async def add_reviewer(
    client: httpx.AsyncClient,
    rid: str,
    role: str = "reviewer",
    tier: str = "junior",
    types: list[str] | None = None,
    *,
    active: bool = True,
) -> dict[str, str]:
    """A reviewer and a new API key for them; returns the headers that carry the key."""
    key = new_api_key()
    async with client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        s.add(
            Reviewer(
                id=rid, display_name=rid, role=role, tier=tier, content_types=types, active=active
            )
        )
        await s.flush()
        s.add(ApiKey(key_hash=hash_key(key), reviewer_id=rid, created_at=datetime.now(UTC)))
    return {"Authorization": f"Bearer {key}"}


async def seed(client: httpx.AsyncClient, events: list[Any]) -> None:
    async with client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        for event in events:
            await service.ingest(s, event, event.model_dump_json().encode(), datetime.now(UTC))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Jwks:
    """A local identity provider: RSA keys, the JWKS of those it publishes served over HTTP
    (`fetches` counts the requests), and a token signer."""

    ISSUER = "https://idp.test"
    AUDIENCE = "hitl-review"

    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.published = ["k1"]
        self.fetches = 0
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                idp.fetches += 1
                body = json.dumps({"keys": [idp.public_jwk(k) for k in idp.published]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return self.keys["k1"]

    def public_jwk(self, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return public | {"kid": kid, "use": "sig", "alg": "RS256"}  # type: ignore[no-any-return]

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published.append(kid)

    def claims(
        self, sub: str | None, *, aud: str = AUDIENCE, iss: str = ISSUER, expires_in: int = 300
    ) -> dict[str, Any]:
        now = int(datetime.now(UTC).timestamp())
        return {"sub": sub, "aud": aud, "iss": iss, "iat": now, "exp": now + expires_in}

    def token(
        self,
        sub: str | None,
        *,
        aud: str = AUDIENCE,
        iss: str = ISSUER,
        expires_in: int = 300,
        kid: str = "k1",
        key: Any = None,
        **extra: Any,
    ) -> str:
        """A token signed RS256 by `key` (default: this provider's key `kid`); `extra` claims
        are added, and a claim given as None (`sub` too) is left out."""
        claims = self.claims(sub, aud=aud, iss=iss, expires_in=expires_in) | extra
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = key if key is not None else self.keys[kid]
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def live_review_api(
    env: dict[str, str], *, reviewer: tuple[str, str, str], log_path: Path | None = None
) -> Iterator[tuple[str, str]]:
    """review-api as it runs in production (`python -m review_api`, uvicorn, HITL_* settings
    from `env`) on a free port, with a reviewer (id, role, tier) made by its CLI. Yields the base
    URL and the reviewer's API key; stderr (the service's logs) goes to `log_path` if given."""
    port = free_port()
    env = (
        os.environ
        | {
            "HITL_HTTP_PORT": str(port),
            "HITL_POLICY_FILE": str(ROOT / "policy/default.yaml"),
        }
        | env
    )
    rid, role, tier = reviewer
    made = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "review_api", "create-reviewer", "--id", rid, "--name", rid]
        + ["--role", role, "--tier", tier],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb")) if log_path else None
        server = subprocess.Popen([sys.executable, "-m", "review_api"], env=env, stderr=log)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(f"{base}/healthz")
            yield base, made.stdout.strip()
        finally:
            server.terminate()
            server.wait(30)
