"""review-api's attack surface: who may call which route, how big a request may be, which JWTs
are refused, and what never reaches the logs. One app serves the module (SQLite, the real
broker, a local identity provider); the log test runs the service as it runs in production."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import load_policy
from hitl_runtime.serde import decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_schemas import Decision, DraftContext
from review_api.config import ReviewApiSettings
from review_api.db import Item, Reviewer
from review_api.tokens import JwtVerifier, TokenRejected
from testkit import read_to_end, wait_for
from tests.integration.reviewkit import (
    ROOT,
    AppThread,
    Jwks,
    add_reviewer,
    b64url,
    live_review_api,
    routed,
    running,
    seed,
)

pytestmark = pytest.mark.integration
# A tier above the items' own (senior), so that escalating one is possible.
POLICY = load_policy(ROOT / "policy/default.yaml").model_copy(
    update={"tiers": ["junior", "senior", "principal"]}
)
LIMIT = 64 * 1024  # HITL_MAX_REQUEST_BYTES of the module's app

# The callers: role, tier, content types, active. The matrix's items are senior customer emails.
CALLERS = {
    "inactive": ("reviewer", "senior", ["customer_email"], False),
    "reviewer": ("reviewer", "senior", ["customer_email"], True),
    "other_tier": ("reviewer", "junior", ["customer_email"], True),
    "other_type": ("reviewer", "senior", ["chat_reply"], True),
    # An empty list of content types is none at all (claim-next took it for every type).
    "no_types": ("reviewer", "senior", [], True),
    "lead": ("lead", "junior", ["chat_reply"], True),
    "admin": ("admin", "junior", ["chat_reply"], True),
}
ROLES = ("anonymous", *CALLERS)
ITEM, ITEM_STATES = "/v1/items/{draft_id}", ("free", "own", "other", "decided", "missing")
OPEN = (200,) * len(ROLES)

# Expected status per caller, for each route and state of what it names. An item is free (queued,
# unclaimed), own (the caller holds its lease), other (another reviewer holds it), decided or
# missing; a reviewer or web page file exists or is missing; "-": the route names nothing.
# fmt: off
MATRIX: dict[tuple[str, str, str], tuple[int, ...]] = {
    # (method, path, state):                    anonymous inactive reviewer other_tier
    #                                                other_type no_types lead admin
    ("GET", "/v1/items", "-"):                  (401, 401, 200, 200, 200, 200, 200, 200),
    ("POST", "/v1/items/claim-next", "-"):      (401, 401, 200, 204, 204, 204, 200, 200),
    **{("GET", ITEM, s): (401, 401, 200, 403, 403, 403, 200, 200) for s in ITEM_STATES[:4]},
    ("GET", ITEM, "missing"):                   (401, 401, 404, 404, 404, 404, 404, 404),
    # Re-reading an edit shows no more than the item does: whoever may see it may check one.
    **{("POST", ITEM + "/edit-check", s): (401, 401, 200, 403, 403, 403, 200, 200)
       for s in ITEM_STATES[:4]},
    ("POST", ITEM + "/edit-check", "missing"):  (401, 401, 404, 404, 404, 404, 404, 404),
    ("POST", ITEM + "/claim", "free"):          (401, 401, 200, 403, 403, 403, 200, 200),
    ("POST", ITEM + "/claim", "own"):           (401, 401, 200, 403, 403, 403, 200, 200),
    ("POST", ITEM + "/claim", "other"):         (401, 401, 409, 403, 403, 403, 409, 409),
    ("POST", ITEM + "/claim", "decided"):       (401, 401, 409, 403, 403, 403, 409, 409),
    ("POST", ITEM + "/claim", "missing"):       (401, 401, 404, 404, 404, 404, 404, 404),
    **{
        row: codes
        for action, ok in (("/release", 204), ("/decision", 200), ("/escalate", 200))
        for row, codes in {
            ("POST", ITEM + action, "free"):    (401, 401, 403, 403, 403, 403, 403, 403),
            ("POST", ITEM + action, "own"):     (401, 401,  ok, 403, 403, 403,  ok,  ok),
            ("POST", ITEM + action, "other"):   (401, 401, 403, 403, 403, 403, 403, 403),
            ("POST", ITEM + action, "decided"): (401, 401, 409, 403, 403, 403, 409, 409),
            ("POST", ITEM + action, "missing"): (401, 401, 404, 404, 404, 404, 404, 404),
        }.items()
    },
    ("GET", "/v1/stats", "-"):                  (401, 401, 403, 403, 403, 403, 200, 200),
    ("GET", "/v1/thresholds", "-"):             (401, 401, 200, 200, 200, 200, 200, 200),
    ("GET", "/v1/admin/audit", "-"):            (401, 401, 403, 403, 403, 403, 403, 200),
    ("POST", "/v1/admin/reviewers", "-"):       (401, 401, 403, 403, 403, 403, 403, 201),
    ("POST", "/v1/admin/reviewers/{reviewer_id}/keys", "existing"):
                                                (401, 401, 403, 403, 403, 403, 403, 201),
    ("POST", "/v1/admin/reviewers/{reviewer_id}/keys", "missing"):
                                                (401, 401, 403, 403, 403, 403, 403, 404),
    **{("GET", path, "-"): OPEN for path in (
        "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc",
        "/docs/oauth2-redirect", "/ui/",
    )},
    ("GET", "/ui", "-"):                        (307,) * len(ROLES),
    ("GET", "/ui/{name}", "existing"):          OPEN,
    ("GET", "/ui/{name}", "missing"):           (404,) * len(ROLES),
}
# fmt: on
BODIES: dict[str, Any] = {
    ITEM + "/decision": {"verdict": "approve"},
    ITEM + "/escalate": {"reason": "unsure"},
    ITEM + "/edit-check": {"final_text": "Your refund of $70.00 is on its way."},
}


@dataclass
class Api:
    app: AppThread
    headers: dict[str, dict[str, str]]  # by role; anonymous has none

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.app.run(self.app.client.request(method, path, **kwargs))

    def sessions(self) -> Any:
        return self.app.client.app.state.sessions()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def idp() -> Iterator[Jwks]:
    provider = Jwks()
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, idp: Jwks) -> Iterator[Api]:
    prefix = f"sec{uuid.uuid4().hex[:8]}."
    settings = ReviewApiSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sec')}/review.db",
        ingest=False,
        relay_interval_ms=50,
        max_request_bytes=LIMIT,
        # The matrix and the JWT cases send hundreds of refused credentials from one address:
        # the throttle has a test of its own (below).
        auth_failures_per_minute=1_000_000,
        oidc_jwks_url=idp.url,
        oidc_issuer=Jwks.ISSUER,
        oidc_audience=Jwks.AUDIENCE,
    )
    create_topics(make_admin(settings), prefix=prefix, partitions=1)
    app = AppThread(settings, policy=POLICY)
    try:
        headers = {
            role: app.run(add_reviewer(app.client, f"rv-{role}", r, t, types, active=active))
            for role, (r, t, types, active) in CALLERS.items()
        }
        app.run(add_reviewer(app.client, "rv-holder", "reviewer", "senior", ["customer_email"]))
        yield Api(app, headers)
    finally:
        app.close()


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, those of included routers too; HEAD goes with GET. A
    route without methods (a mount) is listed by its kind, so it cannot slip past the matrix."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods or {type(route.original_route).__name__}
        found |= {(m, route.path or "?") for m in methods if m != "HEAD"}
    return found


def test_the_matrix_names_every_route_of_the_app(api: Api) -> None:
    in_matrix = {(method, path) for method, path, _ in MATRIX}
    assert routes_of(api.app.client.app) == in_matrix  # type: ignore[attr-defined]
    for method, path in in_matrix:
        if path.startswith(ITEM):
            assert {s for m, p, s in MATRIX if (m, p) == (method, path)} == set(ITEM_STATES)


async def put_item(api: Api, draft_id: str, state: str, holder: str) -> None:
    await seed(api.app.client, [routed(draft_id, tier="senior")])
    now = datetime.now(UTC)
    async with api.sessions() as s, s.begin():
        item = await s.get(Item, draft_id)
        if state == "decided":
            item.status, item.decided_at = "decided", now
        elif state in ("own", "other"):
            item.lease_holder, item.claimed_at = holder, now
            item.lease_expires_at = now + timedelta(minutes=10)


async def matrix_request(api: Api, method: str, path: str, state: str, role: str) -> httpx.Response:
    draft_id = f"m-{uuid.uuid4().hex[:12]}"
    if (path.startswith(ITEM) and state != "missing") or path == "/v1/items/claim-next":
        own = state == "own" and role != "anonymous"
        await put_item(api, draft_id, state, f"rv-{role}" if own else "rv-holder")
    body = BODIES.get(path)
    if path == "/v1/admin/reviewers":
        body = {"id": f"rv-{uuid.uuid4().hex[:8]}", "display_name": "N", "role": "reviewer"}
        body["tier"] = "junior"
    url = path.format(
        draft_id=draft_id,
        reviewer_id="rv-reviewer" if state == "existing" else "rv-missing",
        name="app.js" if state == "existing" else "missing.js",
    )
    return await api.app.client.request(method, url, json=body, headers=api.headers.get(role))


@pytest.mark.parametrize(
    ("method", "path", "state", "role", "expected"),
    [
        pytest.param(method, path, state, role, code, id=f"{method} {path} {state} {role}")
        for (method, path, state), codes in MATRIX.items()
        for role, code in zip(ROLES, codes, strict=True)
    ],
)
def test_authorisation_matrix(
    api: Api, method: str, path: str, state: str, role: str, expected: int
) -> None:
    response = api.app.run(matrix_request(api, method, path, state, role))
    assert response.status_code == expected, response.text[:300]
    if response.status_code in (401, 403, 404, 409):
        assert response.json()["detail"], "a refusal says why"


def padded_reviewer(size: int) -> tuple[str, bytes]:
    """A JSON body creating a new reviewer, padded with spaces to `size` bytes; and its id."""
    rid = f"rv-big-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"id": rid, "display_name": "B", "role": "reviewer", "tier": "junior"})
    return rid, body[:-1].encode() + b" " * (size - len(body)) + b"}"


async def in_chunks(body: bytes, pulled: list[int]) -> AsyncIterator[bytes]:
    """`body` in 8 KiB chunks, as a client streams it; `pulled` counts the chunks read."""
    for start in range(0, len(body), 8192):
        pulled.append(1)
        yield body[start : start + 8192]


@pytest.mark.parametrize(
    ("declared", "size", "expected"),
    [
        pytest.param(True, LIMIT + 1, 413, id="Content-Length over the limit"),
        pytest.param(False, LIMIT + 1, 413, id="chunked, one byte over"),
        pytest.param(False, 16 * LIMIT, 413, id="chunked, far over"),
        pytest.param(True, LIMIT, 201, id="Content-Length at the limit"),
        pytest.param(False, LIMIT, 201, id="chunked, at the limit"),
    ],
)
def test_a_request_body_over_the_limit_is_refused_with_413(
    api: Api, declared: bool, size: int, expected: int
) -> None:
    rid, body = padded_reviewer(size)
    pulled: list[int] = []
    headers = api.headers["admin"] | {"content-type": "application/json"}
    if declared:  # else httpx sends it chunked, with no length
        headers["content-length"] = str(len(body))
    response = api.http(
        "POST", "/v1/admin/reviewers", content=in_chunks(body, pulled), headers=headers
    )
    assert response.status_code == expected, response.text[:300]

    async def created() -> bool:
        async with api.sessions() as s:
            return await s.get(Reviewer, rid) is not None

    assert api.app.run(created()) is (expected == 201)
    if expected == 413:
        detail = response.json()["detail"]
        assert f"limit of {LIMIT} bytes" in detail and "HITL_MAX_REQUEST_BYTES" in detail
        # Refused unread when the length is declared; otherwise read no further than the limit.
        assert len(pulled) == (0 if declared else LIMIT // 8192 + 1)


def test_an_edit_longer_than_a_draft_may_be_is_a_422_not_a_server_error(api: Api) -> None:
    # Within the request limit, but the decision event could not carry it (HITL_MAX_TEXT_CHARS).
    api.app.run(put_item(api, "long-edit", "own", "rv-reviewer"))
    edit = {"verdict": "edit", "final_text": "x" * 50_001, "reason_codes": ["other"]}
    headers = api.headers["reviewer"]
    response = api.http("POST", "/v1/items/long-edit/decision", json=edit, headers=headers)
    assert response.status_code == 422 and "HITL_MAX_TEXT_CHARS" in response.json()["detail"]
    edit["final_text"] = "x" * 50_000
    response = api.http("POST", "/v1/items/long-edit/decision", json=edit, headers=headers)
    assert response.status_code == 200, response.text


@functools.cache
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _in(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def _forged(idp: Jwks, alg: str, sign: Callable[[bytes], bytes]) -> str:
    """A token for rv-reviewer naming key k1 and `alg`, signed by `sign`, not by the provider."""
    header = b64url(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
    signed = f"{header}.{b64url(json.dumps(idp.claims('rv-reviewer')).encode())}"
    return f"{signed}.{b64url(sign(signed.encode()))}"


def _hmac_keyed_with_the_public_key(idp: Jwks) -> str:
    pem = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _forged(idp, "HS256", lambda signed: hmac.new(pem, signed, hashlib.sha256).digest())


def _ec_signed_naming_the_rsa_key(idp: Jwks) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(idp.claims("rv-reviewer"), key, algorithm="ES256", headers={"kid": "k1"})


JWT_REFUSALS: list[tuple[str, Callable[[Jwks], str], str]] = [
    ("signed by another key", lambda p: p.token("rv-reviewer", key=other_rsa_key()), "Signature"),
    ("wrong issuer", lambda p: p.token("rv-reviewer", iss="https://evil.test"), "issuer"),
    ("wrong audience", lambda p: p.token("rv-reviewer", aud="another-app"), "audience"),
    ("expired", lambda p: p.token("rv-reviewer", expires_in=-60), "expired"),
    ("not yet valid", lambda p: p.token("rv-reviewer", nbf=_in(minutes=10)), "not yet valid"),
    ("alg none, unsigned", lambda p: _forged(p, "none", lambda _: b""), "alg"),
    ("HS256 keyed with the public key", _hmac_keyed_with_the_public_key, "alg"),
    ("ES256 naming the RSA key", _ec_signed_naming_the_rsa_key, "invalid token"),
    ("unknown key id", lambda p: p.token("rv-reviewer", kid="k9", key=other_rsa_key()), "key"),
    ("no exp", lambda p: p.token("rv-reviewer", exp=None), "exp"),
    ("no sub", lambda p: p.token(None), "sub"),
    ("not a JWT at all", lambda p: "eyJhbGciOi.bm90.anNvbg", "invalid token"),
    ("unknown subject", lambda p: p.token("rv-nobody"), "not an active reviewer"),
    ("deactivated reviewer", lambda p: p.token("rv-inactive"), "not an active reviewer"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_jwt_is_accepted(api: Api, idp: Jwks) -> None:
    response = api.http("GET", "/v1/items", headers=bearer(idp.token("rv-lead")))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("make", "reason"), [pytest.param(make, why, id=name) for name, make, why in JWT_REFUSALS]
)
def test_a_bad_jwt_is_refused_with_401_and_the_reason(
    api: Api, idp: Jwks, make: Callable[[Jwks], str], reason: str
) -> None:
    response = api.http("GET", "/v1/items", headers=bearer(make(idp)))
    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_made_up_key_ids_do_not_make_a_jwks_request_each(api: Api, idp: Jwks) -> None:
    before = idp.fetches
    for n in range(20):
        token = idp.token("rv-reviewer", kid=f"made-up-{n}", key=other_rsa_key())
        assert api.http("GET", "/v1/items", headers=bearer(token)).status_code == 401
    assert idp.fetches - before <= 1


def test_refused_credentials_are_throttled_per_client_address_with_retry_after(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"thr{uuid.uuid4().hex[:8]}."
    settings = ReviewApiSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/review.db",
        ingest=False,
        auth_failures_per_minute=3,  # a burst of 3, then one every 20 s
    )
    create_topics(make_admin(settings), prefix=prefix, partitions=1)
    bad = {"X-API-Key": f"hitl_{uuid.uuid4().hex}"}

    async def scenario() -> None:
        async with running(settings) as here:  # the client at 127.0.0.1
            good = await add_reviewer(here, "rv-good")
            transport = httpx.ASGITransport(app=here.app, client=("198.51.100.9", 4000))  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=transport, base_url="http://review") as there:
                for _ in range(3):
                    assert (await here.get("/v1/items", headers=bad)).status_code == 401
                throttled = await here.get("/v1/items", headers=bad)
                assert throttled.status_code == 429, throttled.text
                assert 1 <= int(throttled.headers["retry-after"]) <= 20
                assert "retry in" in throttled.json()["detail"]
                # The address waits whatever it sends: its credentials are not looked at...
                assert (await here.get("/v1/items", headers=good)).status_code == 429
                assert (await here.get("/v1/items")).status_code == 401  # (none: nothing to try)
                # ...and no other address does: no global lockout.
                assert (await there.get("/v1/items", headers=good)).status_code == 200
                assert (await there.get("/v1/items", headers=bad)).status_code == 401
            scraped = (await here.get("/metrics")).text
            [count] = [
                float(line.split()[-1])
                for line in scraped.splitlines()
                if line.startswith("hitl_review_auth_throttled_total ")
            ]
            assert count >= 2
            spec = here.app.openapi()  # type: ignore[attr-defined]
            assert "429" in spec["paths"]["/v1/items"]["get"]["responses"]

    asyncio.run(scenario())


def test_a_key_the_provider_withdraws_stops_being_accepted(idp: Jwks) -> None:
    idp.add_key("k2")
    verifier = JwtVerifier(
        idp.url, issuer=Jwks.ISSUER, audience=Jwks.AUDIENCE, jwks_cache_seconds=0.5
    )
    token = idp.token("rv-x", kid="k2")
    assert asyncio.run(verifier.subject(token)) == "rv-x"
    idp.published.remove("k2")

    def refused() -> str | None:
        try:
            asyncio.run(verifier.subject(token))
        except TokenRejected as exc:
            return str(exc)
        return None

    assert "signing key" in wait_for(refused, timeout=20, interval=0.1, what="k2 refused")


def test_no_draft_text_edit_note_or_credential_reaches_the_logs(
    kafka_bootstrap: str, tmp_path: Path, idp: Jwks
) -> None:
    mark = {k: f"MARK{k}{uuid.uuid4().hex}" for k in ("text", "customer", "edit", "note", "dlq")}
    prefix = f"logs{uuid.uuid4().hex[:8]}."
    kafka = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix)
    create_topics(make_admin(kafka), prefix=prefix, partitions=1)
    publisher = EventPublisher(make_producer(kafka), kafka)
    context = DraftContext(prompt="Reply.", customer_message=f"Where is it? {mark['customer']}")
    publisher.publish("needs-review", "lg-1", routed("lg-1", text=mark["text"], context=context))
    bad = routed("lg-2").model_dump(mode="json") | {"tier": f"Not a tier {mark['dlq']}"}
    for value in (json.dumps(bad).encode(), f"{{not json {mark['dlq']}".encode()):
        publisher.producer.produce(f"{prefix}needs-review", key=b"lg-bad", value=value)
    publisher.flush()
    env = {
        "HITL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HITL_TOPIC_PREFIX": prefix,
        "HITL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db",
        "HITL_LOG_LEVEL": "INFO",
        "HITL_LOG_FORMAT": "json",
        "HITL_OIDC_JWKS_URL": idp.url,
        "HITL_OIDC_ISSUER": Jwks.ISSUER,
        "HITL_OIDC_AUDIENCE": Jwks.AUDIENCE,
    }
    log = tmp_path / "review-api.log"
    token, bad_key = idp.token("rv-logs"), f"hitl_{uuid.uuid4().hex}"
    with live_review_api(env, reviewer=("rv-logs", "reviewer", "senior"), log_path=log) as live:
        base, key = live
        with httpx.Client(base_url=base, timeout=30) as http:
            by_key, by_token = {"X-API-Key": key}, bearer(token)
            wait_for(lambda: http.get("/v1/items", headers=by_key).json()["items"], timeout=60)
            assert http.post("/v1/items/lg-1/claim", headers=by_token).status_code == 200
            assert mark["text"] in http.get("/v1/items/lg-1", headers=by_key).text
            edit = {"verdict": "edit", "final_text": f"Hi. {mark['edit']}", "note": mark["note"]}
            edit["reason_codes"] = ["tone"]
            decided = http.post("/v1/items/lg-1/decision", json=edit, headers=by_key)
            assert decided.status_code == 200, decided.text
            for refused in ({"X-API-Key": bad_key}, bearer(f"{token}x")):
                assert http.get("/v1/items", headers=refused).status_code == 401
            big = http.post("/v1/admin/reviewers", content=b" " * (2 << 20), headers=by_key)
            assert big.status_code == 413
        [msg] = read_to_end(kafka_bootstrap, f"{prefix}decisions", at_least=1)
        assert mark["edit"] in (decode(Decision, msg.value()).final_text or "")
        wait_for(lambda: log.read_text().count("sent to DLQ") == 2, timeout=30, what="DLQ logs")
    logged = log.read_text()
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert any(e["level"] == "info" and "/v1/items/lg-1/decision" in e["msg"] for e in lines)
    assert sum(e["msg"] == "record sent to DLQ" for e in lines) == 2
    for secret in [*mark.values(), key, bad_key, token, token.rsplit(".", 1)[1]]:
        assert secret not in logged
