"""review-api's defences that need no server: key lookup, what errors show, the request size
setting, the algorithms a key allows, the limits on what a verdict may carry, page cursors a
client tampered with, NUL characters, and the throttle on refused credentials."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hitl_runtime.settings import SettingsError
from hitl_schemas import Limits
from review_api import cursors
from review_api.config import ReviewApiSettings, load
from review_api.domain import Denied, check_verdict
from review_api.limits import BodySizeLimit, RefuseNul
from review_api.models import DecideBody, EscalateBody, ReviewerCreate
from review_api.store import api_key_query, hash_key, make_engine, new_api_key
from review_api.throttle import FailureThrottle, client_key
from review_api.tokens import algorithms_for


def test_an_api_key_is_looked_up_by_its_digest_never_compared_as_text() -> None:
    # Timing cannot reveal how much of a guess is right: the only value that reaches the
    # database is the SHA-256 digest, and guesses sharing a prefix share nothing in it.
    key = new_api_key()
    compiled = api_key_query(key).compile()
    assert "api_keys.key_hash = " in str(compiled)
    values = [str(v) for v in compiled.params.values()]
    assert hash_key(key) in values
    assert not any(key in v or key[:12] in v for v in values)
    near = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert hash_key(near)[:8] != hash_key(key)[:8]


def test_a_failed_statement_does_not_show_its_values(tmp_path: Path) -> None:
    marker = "draft text that must not reach a log"

    async def duplicate() -> str:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (id TEXT PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": marker})
                await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": marker})
        except IntegrityError as exc:
            return str(exc)
        finally:
            await engine.dispose()
        return ""

    shown = asyncio.run(duplicate())
    assert "UNIQUE constraint failed" in shown and marker not in shown


def test_the_request_size_limit_is_a_setting_checked_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ReviewApiSettings().max_request_bytes == 1_048_576
    monkeypatch.setenv("HITL_MAX_REQUEST_BYTES", "2048")
    assert load().max_request_bytes == 2048
    for wrong in ("10", "lots", str(1 << 40)):
        monkeypatch.setenv("HITL_MAX_REQUEST_BYTES", wrong)
        with pytest.raises(SettingsError, match="HITL_MAX_REQUEST_BYTES"):
            load()


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "²"])
def test_a_content_length_that_is_not_a_number_is_refused(length: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not be called")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=BodySizeLimit(app, 1024))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            request = client.build_request("POST", "/", content=b"{}")
            request.headers["content-length"] = length
            return await client.send(request)

    response = asyncio.run(call())
    assert response.status_code == 400 and "Content-Length" in response.json()["detail"]


def _jwk(key: Any, **extra: Any) -> jwt.PyJWK:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPublicKey) else None
    data = json.loads((algorithm or jwt.algorithms.ECAlgorithm).to_jwk(key)) | extra
    return jwt.PyJWK(data)


def test_a_key_allows_only_the_algorithms_of_its_own_type() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert algorithms_for(_jwk(rsa_key)) == ["RS256", "RS384", "RS512", "PS256"]
    assert algorithms_for(_jwk(ec_key)) == ["ES256"]
    assert algorithms_for(jwt.PyJWK({"kty": "oct", "k": "c2VjcmV0"})) == []


def test_an_edit_longer_than_a_draft_may_be_is_refused_before_a_decision_is_built() -> None:
    limits = Limits(max_text_chars=100)
    check_verdict("edit", "x" * 100, ["other"], None, limits)
    with pytest.raises(Denied, match="HITL_MAX_TEXT_CHARS") as refused:
        check_verdict("edit", "x" * 101, ["other"], None, limits)
    assert refused.value.status == 422


def test_a_reason_code_is_no_longer_than_the_decision_event_allows() -> None:
    assert DecideBody(verdict="reject", reason_codes=["c" * 64]).reason_codes == ["c" * 64]
    with pytest.raises(ValidationError, match="reason_codes"):
        DecideBody(verdict="reject", reason_codes=["c" * 65])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


DUE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_a_cursor_the_api_made_reads_back() -> None:
    assert cursors.decode(cursors.encode(2, DUE, "d-1:x/y@z")) == (2, DUE, "d-1:x/y@z")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="not base64"),
        pytest.param(_b64(b"\xff\xfe|x|y"), id="not UTF-8"),
        pytest.param(_b64(b"2|2026-11-02T09:30:00+00:00"), id="two parts"),
        pytest.param(_b64(b"two|2026-11-02T09:30:00+00:00|d-1"), id="rank not a number"),
        # Overflowed SQLite's 64-bit integer: a 500 before.
        pytest.param(_b64(b"99999999999999999999999|2026-11-02T09:30:00+00:00|d-1"), id="huge"),
        pytest.param(_b64(b"-1|2026-11-02T09:30:00+00:00|d-1"), id="rank not one of ours"),
        pytest.param(_b64(b"2|yesterday|d-1"), id="due not a datetime"),
        pytest.param(_b64(b"2|2026-11-02T09:30:00|d-1"), id="due without a time zone"),
        # Failed PostgreSQL's text encoding, taken for an outage: a 503 before.
        pytest.param(_b64(b"2|2026-11-02T09:30:00+00:00|d\x001"), id="NUL in the draft id"),
        pytest.param(_b64(b"2|2026-11-02T09:30:00+00:00|" + b"d" * 129), id="draft id too long"),
        pytest.param(_b64(b"2|2026-11-02T09:30:00+00:00|"), id="draft id empty"),
    ],
)
def test_a_tampered_cursor_is_a_422_saying_to_start_again(cursor: str) -> None:
    with pytest.raises(Denied, match="start without one") as refused:
        cursors.decode(cursor)
    assert refused.value.status == 422


async def _through_refuse_nul(path: str) -> httpx.Response:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RefuseNul(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers={"X-Probe": "ok"})


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/v1/items/a%00b", "path"),
        ("/v1/items?cursor=%00", "query"),
        ("/v1/items?tier=a%2500", None),  # "%00" as text, a percent-encoded percent sign
        ("/v1/admin/audit?draft_id=x&limit=1%00", "query"),
        ("/v1/items/ok?tier=junior", None),
    ],
)
def test_a_nul_in_the_path_or_query_is_a_422_saying_so(path: str, where: str | None) -> None:
    response = asyncio.run(_through_refuse_nul(path))
    if where is None:
        assert response.status_code == 204
        return
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{where}: NUL characters (\\u0000) are not")


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (DecideBody, {"verdict": "edit", "final_text": "Hi\x00", "reason_codes": ["tone"]}),
        (DecideBody, {"verdict": "reject", "reason_codes": ["tone", "o\x00"]}),
        (DecideBody, {"verdict": "approve", "note": "\x00"}),
        (EscalateBody, {"reason": "unsure", "note": "a\x00b"}),
        (
            ReviewerCreate,
            {"id": "rv-1", "display_name": "N\x00", "role": "reviewer", "tier": "junior"},
        ),
        (
            ReviewerCreate,
            {
                "id": "rv-1",
                "display_name": "N",
                "role": "reviewer",
                "tier": "junior",
                "content_types": ["chat\x00"],
            },
        ),
    ],
)
def test_a_nul_in_any_text_of_a_body_is_refused_naming_the_field(
    model: type[DecideBody | EscalateBody | ReviewerCreate], fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="NUL characters") as refused:
        model.model_validate(fields)
    [error] = refused.value.errors()
    assert "\\x00" in repr(fields[str(error["loc"][0])])  # the field it names holds the NUL


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refused_credentials_are_throttled_per_client_and_refill() -> None:
    clock = _Clock()
    throttle = FailureThrottle(6, clock=clock)  # a burst of 6, then one every 10 s
    for _ in range(6):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10
    assert throttle.retry_after("10.0.0.2") is None  # another client is not held up
    clock.now += 4
    assert throttle.retry_after("10.0.0.1") == 6
    clock.now += 6
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10  # one token back, spent again
    clock.now += 60
    assert throttle.retry_after("10.0.0.1") is None
    assert len(throttle) == 0  # refilled buckets are forgotten


def test_the_throttle_holds_at_most_its_bound_of_clients() -> None:
    clock = _Clock()
    throttle = FailureThrottle(1, max_clients=100, clock=clock)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
        assert len(throttle) <= 100
    assert throttle.retry_after("10.0.3.231") == 60  # the most recent are kept
    assert throttle.retry_after("10.0.0.0") is None  # the oldest was dropped: a new client


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same /64
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_a_client_is_its_address_and_an_ipv6_one_its_64_prefix(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_the_auth_failure_rate_is_a_setting_checked_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ReviewApiSettings().auth_failures_per_minute == 30
    monkeypatch.setenv("HITL_AUTH_FAILURES_PER_MINUTE", "5")
    assert load().auth_failures_per_minute == 5
    for wrong in ("0", "many"):
        monkeypatch.setenv("HITL_AUTH_FAILURES_PER_MINUTE", wrong)
        with pytest.raises(SettingsError, match="HITL_AUTH_FAILURES_PER_MINUTE"):
            load()
