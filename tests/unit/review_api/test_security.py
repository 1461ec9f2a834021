"""review-api's defences that need no server: key lookup, what errors show, the request size
setting, the algorithms a key allows, and the limits on what a verdict may carry."""

from __future__ import annotations

import asyncio
import json
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
from review_api.config import ReviewApiSettings, load
from review_api.domain import Denied, check_verdict
from review_api.limits import BodySizeLimit
from review_api.models import DecideBody
from review_api.store import api_key_query, hash_key, make_engine, new_api_key
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
