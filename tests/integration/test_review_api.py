"""review-api against a real broker and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from sqlalchemy import select

from bench.pg import fresh_postgres_database, postgres_base_url
from hitl_runtime.cloudevents import read_headers
from hitl_runtime.kafka import EventPublisher, make_producer
from hitl_runtime.policy import load_policy
from hitl_runtime.serde import decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import Signer, unverified_reason
from hitl_schemas import DeadLetter, Decision, examples
from review_api import adapters, service
from review_api.config import ReviewApiSettings
from review_api.domain import Denied, Principal
from review_api.store import create_schema, make_engine, sessions
from testkit import read_to_end
from tests.integration.reviewkit import Jwks, add_reviewer, routed, running, seed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "policy" / "default.yaml")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return postgres_base_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/review.db"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def review_settings(
    settings_factory: Callable[..., Any], topics: str, database_url: str
) -> ReviewApiSettings:
    settings: ReviewApiSettings = settings_factory(
        ReviewApiSettings,
        service_name="review-api",
        database_url=database_url,
        policy_file=ROOT / "policy" / "default.yaml",
        group_id=f"review-{topics}",
        relay_interval_ms=50,
    )
    return settings


def test_ingest_is_idempotent_and_bad_records_go_to_the_dlq(
    review_settings: ReviewApiSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    publisher = EventPublisher(producer_factory(), review_settings)
    for draft_id in ("a", "a", "b"):
        publisher.publish("needs-review", draft_id, routed(draft_id))
    # The same draft_id from another tenant: dead-lettered with the reason, not dropped.
    publisher.publish("needs-review", "a", routed("a", tenant="globex", text="Not acme's."))
    producer_factory().produce(
        f"{review_settings.topic_prefix}needs-review", key=b"x", value=b"nope"
    )
    publisher.flush()
    dlq = f"{review_settings.topic_prefix}needs-review.dlq"

    async def scenario() -> tuple[list[str], dict[str, Any], list[DeadLetter]]:
        async with running(review_settings) as client:
            headers = await add_reviewer(client, "rv-lead", role="lead", tier="senior")

            async def queue() -> list[str]:
                page = (await client.get("/v1/items", headers=headers)).json()
                return [i["draft_id"] for i in page["items"]]

            deadline = asyncio.get_running_loop().time() + 60
            while len(await queue()) < 2 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.2)
            # Read while the service runs: the clash may come after both items are stored.
            letters = await asyncio.to_thread(read_to_end, kafka_bootstrap, dlq, at_least=2)
            item = (await client.get("/v1/items/a", headers=headers)).json()
            return await queue(), item, [decode(DeadLetter, m.value()) for m in letters]

    queue, item, letters = asyncio.run(scenario())
    assert sorted(queue) == ["a", "b"]
    assert (item["tenant"], item["routed"]["draft"]["text"]) == ("acme", routed("a").draft.text)
    by_kind = {letter.error.kind: letter for letter in letters}
    assert sorted(by_kind) == ["invalid_json", "processing"] and len(letters) == 2
    clash = by_kind["processing"]
    assert clash.error.field == "draft.draft_id"
    assert "already in review for another tenant" in clash.error.message
    assert b"globex" in base64.b64decode(clash.original_value_b64 or "")


def test_the_same_idempotency_key_sent_twice_at_once_records_one_review(
    review_settings: ReviewApiSettings,
) -> None:
    """A client that retries before its first request has answered: both requests find no
    earlier review. One is recorded, the other is refused with a 409 to retry (never a 500),
    and the retry gets the first one's answer."""
    settings = review_settings.model_copy(update={"ingest": False})
    body = {"verdict": "approve"}

    async def scenario() -> tuple[list[int], dict[str, Any], int]:
        async with running(settings) as client:
            await seed(client, [routed("d-twice")])
            alice = await add_reviewer(client, "rv-alice")
            claimed = await client.post("/v1/items/claim-next", headers=alice)
            assert claimed.status_code == 200, claimed.text
            keyed = alice | {"Idempotency-Key": "same-moment"}
            answers = await asyncio.gather(
                *(
                    client.post("/v1/items/d-twice/decision", json=body, headers=keyed)
                    for _ in range(4)
                )  # fmt: skip
            )
            retry = await client.post("/v1/items/d-twice/decision", json=body, headers=keyed)
            assert retry.status_code == 200, retry.text
            from review_api.db import Review

            async with client.app.state.sessions() as s:  # type: ignore[attr-defined]
                kept = len((await s.execute(select(Review))).scalars().all())
            first = next(a.json() for a in answers if a.status_code == 200)
            assert retry.json()["decision_id"] == first["decision_id"]
            return [a.status_code for a in answers], first, kept

    statuses, first, kept = asyncio.run(scenario())
    # SQLite serialises writers: a loser may be told the database is busy (503, retry) instead.
    assert set(statuses) <= {200, 409, 503} and 200 in statuses, statuses
    assert kept == 1 and first["status"] == "decided"


def test_claim_and_decide_publishes_one_decision_with_an_audit_trail(
    review_settings: ReviewApiSettings,
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with running(settings) as client:
            await seed(client, [routed("d-1")])
            alice = await add_reviewer(client, "rv-alice")
            admin = await add_reviewer(client, "rv-admin", role="admin", tier="senior")
            claimed = await client.post("/v1/items/claim-next", headers=alice)
            assert claimed.status_code == 200, claimed.text
            item = claimed.json()
            assert item["draft_id"] == "d-1" and item["checklist"] and item["suggested_action"]
            body = {
                "verdict": "edit",
                "final_text": "Hi Dana, it shipped.",
                "reason_codes": ["wrong_date"],
            }
            first = await client.post(
                "/v1/items/d-1/decision", json=body, headers=alice | {"Idempotency-Key": "k1"}
            )
            again = await client.post(
                "/v1/items/d-1/decision", json=body, headers=alice | {"Idempotency-Key": "k1"}
            )
            assert first.status_code == again.status_code == 200, first.text
            assert first.json()["decision_id"] == again.json()["decision_id"]
            # The same key with another body is refused, not answered with the edit's result.
            other = await client.post(
                "/v1/items/d-1/decision",
                json={"verdict": "approve"},
                headers=alice | {"Idempotency-Key": "k1"},
            )
            assert other.status_code == 422, other.text
            assert "different body" in other.json()["detail"]
            trail = (await client.get("/v1/admin/audit?draft_id=d-1", headers=admin)).json()
            from review_api.db import Review

            async with client.app.state.sessions() as s:  # type: ignore[attr-defined]
                [kept] = (await s.execute(select(Review))).scalars()
            assert kept.diff is not None and "+Hi Dana, it shipped." in kept.diff
            scraped = (await client.get("/metrics")).text
            assert (
                'hitl_review_decisions_total{content_type="customer_email",verdict="edit"}'
                in scraped
            )
            return first.json(), trail

    result, trail = asyncio.run(scenario())
    [msg] = read_to_end(kafka_bootstrap, f"{settings.topic_prefix}decisions", at_least=1)
    decision = decode(Decision, msg.value())
    assert decision.decision_id == result["decision_id"]
    assert (decision.verdict, decision.final_text, decision.reviewer_ids) == (
        "edit",
        "Hi Dana, it shipped.",
        ["rv-alice"],
    )
    assert decision.routing.reason == "low_confidence"
    assert read_headers(msg.headers())["ce_id"] == decision.decision_id
    trusted = {os.environ["HITL_SIGNING_KEY_ID"]: signer.key.public_key()}  # review-api's key
    assert unverified_reason("decisions", msg.key(), msg.value(), msg.headers(), trusted) is None
    assert [t["action"] for t in trail] == ["decide", "claim"]


def test_an_edit_is_re_read_by_the_scorer_checks_before_it_is_sent(
    review_settings: ReviewApiSettings,
) -> None:
    """Issue 17: a figure the reviewer types that the sources do not support is a warning
    beside the editor (not a block), for whoever may work the item."""
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> None:
        async with running(settings) as client:
            await seed(client, [routed("d-1")])
            alice = await add_reviewer(client, "rv-alice")
            legal = await add_reviewer(client, "rv-legal", types=["legal_clause"])
            item = (await client.post("/v1/items/claim-next", headers=alice)).json()
            text = item["routed"]["draft"]["text"].replace("30 days", "45 days")
            checked = await client.post(
                "/v1/items/d-1/edit-check", json={"final_text": text}, headers=alice
            )
            assert checked.status_code == 200, checked.text
            [warning] = checked.json()["warnings"]
            assert text[warning["start"] : warning["end"]] == "45 days" and warning["new"]
            assert "the sources say" in warning["label"]
            denied = await client.post(
                "/v1/items/d-1/edit-check", json={"final_text": text}, headers=legal
            )
            assert denied.status_code == 403, denied.text
            too_long = await client.post(
                "/v1/items/d-1/edit-check",
                json={"final_text": "x" * (settings.max_text_chars + 1)},
                headers=alice,
            )
            assert too_long.status_code == 422 and "HITL_MAX_TEXT_CHARS" in too_long.text
            # A warning, not a block: the edit is decided as sent.
            decided = await client.post(
                "/v1/items/d-1/decision",
                json={"verdict": "edit", "final_text": text, "reason_codes": ["wrong_date"]},
                headers=alice,
            )
            assert decided.status_code == 200, decided.text

    asyncio.run(scenario())


def test_fifty_concurrent_reviewers_get_each_item_exactly_once(
    review_settings: ReviewApiSettings,
) -> None:
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> list[str]:
        async with running(settings) as client:
            await seed(client, [routed(f"c-{i:04d}") for i in range(1000)])
            reviewers = [await add_reviewer(client, f"rv-{n}") for n in range(50)]

            async def work(headers: dict[str, str]) -> list[str]:
                got = []
                while True:
                    response = await client.post("/v1/items/claim-next", headers=headers)
                    if response.status_code == 204:
                        return got
                    assert response.status_code == 200, response.text
                    got.append(response.json()["draft_id"])

            results = await asyncio.gather(*(work(h) for h in reviewers))
            return [d for r in results for d in r]

    claimed = asyncio.run(scenario())
    assert len(claimed) == 1000
    assert len(set(claimed)) == 1000


def test_error_cases_get_the_right_status_and_a_reason(review_settings: ReviewApiSettings) -> None:
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> None:
        async with running(settings) as client:
            await seed(
                client,
                [
                    routed("e-1"),
                    routed("e-senior", tier="senior"),
                    routed("e-legal", content_type="legal_clause"),
                ],
            )
            alice = await add_reviewer(client, "rv-alice")
            bob = await add_reviewer(client, "rv-bob", types=["customer_email"])
            assert (await client.get("/v1/items")).status_code == 401
            assert (
                await client.get("/v1/items", headers={"Authorization": "Bearer nope"})
            ).status_code == 401
            assert (await client.get("/v1/items/none", headers=alice)).status_code == 404
            senior = await client.post("/v1/items/e-senior/claim", headers=alice)
            assert senior.status_code == 403 and "senior" in senior.json()["detail"]
            legal = await client.post("/v1/items/e-legal/claim", headers=bob)
            assert legal.status_code == 403
            assert (await client.post("/v1/items/e-1/claim", headers=alice)).status_code == 200
            taken = await client.post("/v1/items/e-1/claim", headers=bob)
            assert taken.status_code == 409
            not_yours = await client.post(
                "/v1/items/e-1/decision", json={"verdict": "approve"}, headers=bob
            )
            assert not_yours.status_code == 403 and "lease" in not_yours.json()["detail"]
            no_text = await client.post(
                "/v1/items/e-1/decision",
                json={"verdict": "edit", "reason_codes": ["other"]},
                headers=alice,
            )
            assert no_text.status_code == 422 and "final_text" in no_text.json()["detail"]
            bad_code = await client.post(
                "/v1/items/e-1/decision",
                json={"verdict": "reject", "reason_codes": ["vibes"]},
                headers=alice,
            )
            assert bad_code.status_code == 422 and "vibes" in bad_code.json()["detail"]
            bad_body = await client.post(
                "/v1/items/e-1/decision", json={"verdict": "maybe"}, headers=alice
            )
            assert bad_body.status_code == 422 and "verdict" in json.dumps(bad_body.json())
            assert (
                await client.post(
                    "/v1/items/e-1/decision", json={"verdict": "approve"}, headers=alice
                )
            ).status_code == 200
            again = await client.post(
                "/v1/items/e-1/decision", json={"verdict": "approve"}, headers=alice
            )
            assert again.status_code == 409
            admin_only = await client.get("/v1/admin/audit", headers=alice)
            assert admin_only.status_code == 403
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).json()["database"] == "ok"

    asyncio.run(scenario())


TAMPERED_CURSORS = [
    base64.urlsafe_b64encode(raw).decode()
    for raw in (
        b"99999999999999999999999|2026-11-02T09:30:00+00:00|e-1",  # a 500 on SQLite before
        b"2|2026-11-02T09:30:00+00:00|e\x001",  # a 503 on PostgreSQL before
        b"2|2026-11-02T09:30:00|e-1",
    )
]
NUL = "NUL characters (\\u0000) are not allowed"


def test_a_tampered_cursor_or_a_nul_is_a_4xx_saying_what_to_fix(
    review_settings: ReviewApiSettings,
) -> None:
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> None:
        async with running(settings) as client:
            await seed(client, [routed("e-1"), routed("e-2")])
            lead = await add_reviewer(client, "rv-lead", role="lead", tier="senior")
            first = await client.get("/v1/items?limit=1", headers=lead)
            cursor = first.json()["next_cursor"]
            second = await client.get("/v1/items", params={"cursor": cursor}, headers=lead)
            assert [i["draft_id"] for i in second.json()["items"]] == ["e-2"]
            for tampered in TAMPERED_CURSORS:
                page = await client.get("/v1/items", params={"cursor": tampered}, headers=lead)
                assert page.status_code == 422, (tampered, page.text)
                assert "start without one" in page.json()["detail"]
            for path, params, where in (
                ("/v1/items/e%001", {}, "path"),
                ("/v1/items", {"tier": "junior\x00"}, "query"),
                ("/v1/admin/audit", {"draft_id": "\x00"}, "query"),
            ):
                refused = await client.get(path, params=params, headers=lead)
                assert refused.status_code == 422, (path, refused.text)
                assert refused.json()["detail"] == f"{where}: {NUL}; remove them"
            assert (await client.post("/v1/items/e-1/claim", headers=lead)).status_code == 200
            for body in (
                {"verdict": "approve", "note": "fine\x00"},
                {"verdict": "edit", "final_text": "Hi\x00", "reason_codes": ["tone"]},
            ):
                decided = await client.post("/v1/items/e-1/decision", json=body, headers=lead)
                assert decided.status_code == 422, decided.text
                assert any(NUL in error["msg"] for error in decided.json()["detail"])
            escalated = await client.post(
                "/v1/items/e-1/escalate", json={"reason": "unsure", "note": "\x00"}, headers=lead
            )
            assert escalated.status_code == 422
            assert NUL in escalated.json()["detail"][0]["msg"]
            ok = await client.post(
                "/v1/items/e-1/decision", json={"verdict": "approve"}, headers=lead
            )
            assert ok.status_code == 200, ok.text

    asyncio.run(scenario())


def test_a_lease_expires_and_the_item_returns_to_the_queue(
    review_settings: ReviewApiSettings,
) -> None:
    async def scenario() -> None:
        engine = make_engine(review_settings.database_url)
        await create_schema(engine)
        make = sessions(engine)
        alice = Principal("rv-a", "reviewer", "junior", None)
        bob = Principal("rv-b", "reviewer", "junior", None)
        t0 = datetime.now(UTC)
        async with make() as s, s.begin():
            await service.ingest(s, routed("l-1"), routed("l-1").model_dump_json().encode(), t0)
        async with make() as s, s.begin():
            assert (
                await service.claim_next(
                    s, principal=alice, policy=POLICY, now=t0, lease_seconds=60
                )
            ) is not None
        async with make() as s, s.begin():
            assert (
                await service.claim_next(
                    s,
                    principal=bob,
                    policy=POLICY,
                    now=t0 + timedelta(seconds=30),
                    lease_seconds=60,
                )
                is None
            )
        async with make() as s, s.begin():
            item = await service.claim_next(
                s, principal=bob, policy=POLICY, now=t0 + timedelta(seconds=61), lease_seconds=60
            )
            assert item is not None and item.lease_holder == "rv-b"
        with pytest.raises(Denied) as caught:
            async with make() as s, s.begin():
                await service.decide(
                    s,
                    principal=alice,
                    policy=POLICY,
                    draft_id="l-1",
                    verdict="approve",
                    final_text=None,
                    reason_codes=[],
                    note="",
                    idempotency_key=None,
                    now=t0 + timedelta(seconds=62),
                    topic_prefix="",
                )
        assert caught.value.status == 403
        await engine.dispose()

    asyncio.run(scenario())


def test_decisions_wait_in_the_outbox_while_kafka_is_down_and_arrive_once(
    review_settings: ReviewApiSettings,
    kafka_bootstrap: str,
) -> None:
    async def scenario() -> None:
        engine = make_engine(review_settings.database_url)
        await create_schema(engine)
        make = sessions(engine)
        alice = Principal("rv-a", "reviewer", "junior", None)
        now = datetime.now(UTC)
        async with make() as s, s.begin():
            for i in range(3):
                event = routed(f"o-{i}")
                await service.ingest(s, event, event.model_dump_json().encode(), now)
        for i in range(3):
            async with make() as s, s.begin():
                await service.claim_item(
                    s, principal=alice, policy=POLICY, draft_id=f"o-{i}", now=now, lease_seconds=60
                )
                await service.decide(
                    s,
                    principal=alice,
                    policy=POLICY,
                    draft_id=f"o-{i}",
                    verdict="approve",
                    final_text=None,
                    reason_codes=[],
                    note="",
                    idempotency_key=None,
                    now=now,
                    topic_prefix=review_settings.topic_prefix,
                )
        down = ServiceSettings(
            kafka_bootstrap="127.0.0.1:1", topic_prefix=review_settings.topic_prefix
        )
        dead = make_producer(down, **{"message.timeout.ms": 1500})
        assert await adapters.relay_once(make, dead, review_settings) == 0
        live = make_producer(review_settings)
        assert await adapters.relay_once(make, live, review_settings) == 3
        assert await adapters.relay_once(make, live, review_settings) == 0
        await engine.dispose()

    asyncio.run(scenario())
    msgs = read_to_end(kafka_bootstrap, f"{review_settings.topic_prefix}decisions", at_least=3)
    assert sorted(decode(Decision, m.value()).draft_id for m in msgs) == ["o-0", "o-1", "o-2"]


def test_two_approvals_are_independent_and_a_disagreement_goes_to_a_tie_break(
    review_settings: ReviewApiSettings,
    kafka_bootstrap: str,
) -> None:
    settings = review_settings.model_copy(update={"ingest": False})

    async def scenario() -> None:
        async with running(settings) as client:
            await seed(client, [routed("two-1", content_type="legal_clause", tier="senior")])
            s1, s2, s3 = [await add_reviewer(client, f"rv-s{n}", tier="senior") for n in (1, 2, 3)]

            async def claim_and_decide(
                headers: dict[str, str], verdict: str, codes: list[str]
            ) -> Any:
                claimed = await client.post("/v1/items/claim-next", headers=headers)
                assert claimed.status_code == 200, claimed.text
                body = {"verdict": verdict, "reason_codes": codes}
                return (
                    await client.post("/v1/items/two-1/decision", json=body, headers=headers)
                ).json()

            first = await claim_and_decide(s1, "approve", [])
            assert (first["status"], first["decision_id"]) == ("awaiting_second_review", None)
            assert (await client.post("/v1/items/claim-next", headers=s1)).status_code == 204
            again = await client.post("/v1/items/two-1/claim", headers=s1)
            assert again.status_code == 409 and "independent" in again.json()["detail"]
            second = await claim_and_decide(s2, "reject", ["misquoted_clause"])
            assert second["status"] == "escalated"
            assert (await client.post("/v1/items/claim-next", headers=s2)).status_code == 204
            final = await claim_and_decide(s3, "reject", ["not_enforceable"])
            assert final["status"] == "decided" and final["decision_id"]
            lead = await add_reviewer(client, "rv-lead", role="lead", tier="senior")
            assert (await client.get("/v1/stats", headers=s1)).status_code == 403
            stats = (await client.get("/v1/stats", headers=lead)).json()
            assert stats["two_approval_pairs"] == 1
            assert stats["decisions_by_verdict"] == {"reject": 1}
            assert {r["reviewer_id"]: r["verdicts"] for r in stats["reviewers"]} == {
                "rv-s1": 1,
                "rv-s2": 1,
                "rv-s3": 1,
            }
            assert all(r["median_seconds_per_item"] is not None for r in stats["reviewers"])

    asyncio.run(scenario())
    [msg] = read_to_end(kafka_bootstrap, f"{settings.topic_prefix}decisions", at_least=1)
    decision = decode(Decision, msg.value())
    assert decision.verdict == "reject"
    assert decision.reviewer_ids == ["rv-s1", "rv-s2", "rv-s3"] and decision.reviewers == 3
    assert decision.reason_codes == ["misquoted_clause", "not_enforceable"]
    assert [e.reason for e in decision.escalations] == ["two reviewers disagreed"]


class _Hooks:
    """A local webhook receiver that records what it is sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        received: list[tuple[bytes, str | None]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append((body, self.headers.get("X-HITL-Signature")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_the_sla_sweeper_escalates_then_applies_the_fallback_and_notifies(
    review_settings: ReviewApiSettings,
) -> None:
    from review_api import sla
    from review_api.db import Item
    from review_api.notify import Notifier, signature

    hooks = _Hooks()

    async def scenario() -> None:
        engine = make_engine(review_settings.database_url)
        await create_schema(engine)
        make = sessions(engine)
        now = datetime.now(UTC)
        late = [
            routed("sla-junior", content_type="customer_email", due_in=-60),
            routed("sla-chat", content_type="chat_reply", tier="senior", due_in=-60),
            routed("sla-legal", content_type="legal_clause", tier="senior", due_in=-60),
            routed("sla-fine", due_in=3600),
        ]
        async with make() as s, s.begin():
            for event in late:
                await service.ingest(s, event, event.model_dump_json().encode(), now)
        async with make() as s, s.begin():
            notices = await sla.sweep(s, policy=POLICY, now=now, topic_prefix="")
        await Notifier(hooks.url, "s3cret").send(notices)
        async with make() as s:
            junior = await s.get(Item, "sla-junior")
            chat = await s.get(Item, "sla-chat")
            legal = await s.get(Item, "sla-legal")
            fine = await s.get(Item, "sla-fine")
            assert (
                junior is not None and chat is not None and legal is not None and fine is not None
            )
            assert (junior.tier, junior.status, junior.escalations[0]["reason"]) == (
                "senior",
                "queued",
                "sla_breach",
            )
            assert chat.status == "decided"
            assert (legal.status, legal.sla_breached) == ("queued", True)
            assert (fine.tier, fine.status) == ("junior", "queued")
            from review_api.store import unsent_outbox

            [row] = await unsent_outbox(s, 10)
            decision = Decision.model_validate_json(row.payload)
            assert (decision.draft_id, decision.verdict, decision.fallback_applied) == (
                "sla-chat",
                "reject",
                True,
            )
            assert decision.reviewer_ids == [] and decision.reviewers == 0
        async with make() as s, s.begin():
            assert await sla.sweep(s, policy=POLICY, now=now, topic_prefix="") == []
        await engine.dispose()

    try:
        asyncio.run(scenario())
        events = [json.loads(body) for body, _ in hooks.received]
        assert sorted(e["event"] for e in events) == [
            "sla_breached",
            "sla_escalated",
            "sla_fallback_rejected",
        ]
        assert all(sig == signature("s3cret", body) for body, sig in hooks.received)
        assert all("text" not in body.decode() for body, _ in hooks.received)
    finally:
        hooks.close()


def test_current_thresholds_come_from_the_router(
    review_settings: ReviewApiSettings, producer_factory: Callable[..., Producer], signer: Signer
) -> None:
    """Only thresholds the router signed are served: a forged newer version in between (which
    would win on version) is skipped."""
    settings = review_settings.model_copy(update={"ingest": False})
    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as the router
    forger = EventPublisher(producer_factory(), settings)  # a plain producer, no key
    publisher.publish("router-thresholds", "customer_email", examples.threshold_state(version=1))
    forger.publish(
        "router-thresholds", "customer_email", examples.threshold_state(version=9, threshold=0.5)
    )
    forger.flush()
    publisher.publish(
        "router-thresholds", "customer_email", examples.threshold_state(version=2, threshold=0.91)
    )
    publisher.flush()

    async def scenario() -> list[dict[str, Any]]:
        async with running(settings) as client:
            alice = await add_reviewer(client, "rv-alice")
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                found = (await client.get("/v1/thresholds", headers=alice)).json()
                if found and found[0]["version"] == 2:
                    return found  # type: ignore[no-any-return]
                await asyncio.sleep(0.2)
            return []

    [state] = asyncio.run(scenario())
    assert (state["content_type"], state["threshold"]) == ("customer_email", 0.91)


def test_oidc_bearer_tokens_are_verified_and_mapped_to_reviewers(
    review_settings: ReviewApiSettings,
) -> None:
    idp = Jwks()
    settings = review_settings.model_copy(
        update={
            "ingest": False,
            "oidc_jwks_url": idp.url,
            "oidc_issuer": "https://idp.test",
            "oidc_audience": "hitl-review",
        }
    )

    async def scenario() -> None:
        async with running(settings) as client:
            await add_reviewer(client, "rv-oidc")

            async def get(token: str) -> httpx.Response:
                return await client.get("/v1/items", headers={"Authorization": f"Bearer {token}"})

            ok = await get(idp.token("rv-oidc"))
            assert ok.status_code == 200, ok.text
            expired = await get(idp.token("rv-oidc", expires_in=-60))
            assert expired.status_code == 401 and "expired" in expired.json()["detail"]
            wrong_aud = await get(idp.token("rv-oidc", aud="someone-else"))
            assert wrong_aud.status_code == 401 and "audience" in wrong_aud.json()["detail"]
            wrong_iss = await get(idp.token("rv-oidc", iss="https://evil.test"))
            assert wrong_iss.status_code == 401 and "issuer" in wrong_iss.json()["detail"]
            stranger = await get(idp.token("rv-nobody"))
            assert (
                stranger.status_code == 401
                and "not an active reviewer" in stranger.json()["detail"]
            )
            forged = idp.token("rv-oidc")[:-4] + "AAAA"
            assert (await get(forged)).status_code == 401

    try:
        asyncio.run(scenario())
    finally:
        idp.close()


def test_every_route_but_health_requires_a_caller_and_admin_routes_an_admin(
    review_settings: ReviewApiSettings,
) -> None:
    settings = review_settings.model_copy(update={"ingest": False})
    open_paths = {"/healthz", "/readyz", "/metrics"}

    async def scenario() -> None:
        async with running(settings) as client:
            reviewer = await add_reviewer(client, "rv-plain")
            spec = client.app.openapi()  # type: ignore[attr-defined]
            routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
            assert len(routes) >= 13
            for method, route in routes:
                path = route.replace("{draft_id}", "x").replace("{reviewer_id}", "x")
                anonymous = await client.request(method, path)
                if route in open_paths:
                    assert anonymous.status_code in (200, 503), route
                    continue
                assert anonymous.status_code == 401, (method, route)
                if route.startswith("/v1/admin") or route == "/v1/stats":
                    body = {
                        "id": "rv-new",
                        "display_name": "n",
                        "role": "reviewer",
                        "tier": "junior",
                    }
                    as_reviewer = await client.request(method, path, headers=reviewer, json=body)
                    assert as_reviewer.status_code == 403, (method, route)

    asyncio.run(scenario())


def test_outbox_survives_a_real_broker_restart(
    review_settings: ReviewApiSettings, kafka_bootstrap: str
) -> None:
    import subprocess

    if os.environ.get("HITL_KAFKA_BOOTSTRAP"):
        pytest.skip("the broker at HITL_KAFKA_BOOTSTRAP is not ours to stop")
    script = str(ROOT / "deploy" / "local" / "kafka.sh")

    async def decide_while_down() -> None:
        engine = make_engine(review_settings.database_url)
        await create_schema(engine)
        make = sessions(engine)
        alice = Principal("rv-a", "reviewer", "junior", None)
        now = datetime.now(UTC)
        async with make() as s, s.begin():
            event = routed("down-1")
            await service.ingest(s, event, event.model_dump_json().encode(), now)
        async with make() as s, s.begin():
            await service.claim_item(
                s, principal=alice, policy=POLICY, draft_id="down-1", now=now, lease_seconds=60
            )
            await service.decide(
                s,
                principal=alice,
                policy=POLICY,
                draft_id="down-1",
                verdict="approve",
                final_text=None,
                reason_codes=[],
                note="",
                idempotency_key=None,
                now=now,
                topic_prefix=review_settings.topic_prefix,
            )
        producer = make_producer(review_settings, **{"message.timeout.ms": 3000})
        assert await adapters.relay_once(make, producer, review_settings) == 0
        async with make() as s:
            from review_api.store import unsent_outbox

            assert len(await unsent_outbox(s, 10)) == 1
        await engine.dispose()

    async def relay_after_restart() -> int:
        engine = make_engine(review_settings.database_url)
        make = sessions(engine)
        producer = make_producer(review_settings)
        sent = await adapters.relay_once(make, producer, review_settings)
        again = await adapters.relay_once(make, producer, review_settings)
        await engine.dispose()
        return sent + 100 * again

    subprocess.run([script, "stop"], check=True, timeout=120)  # noqa: S603
    try:
        asyncio.run(decide_while_down())
    finally:
        subprocess.run([script, "start"], check=True, timeout=300)  # noqa: S603
    assert asyncio.run(relay_after_restart()) == 1
    [msg] = read_to_end(kafka_bootstrap, f"{review_settings.topic_prefix}decisions", at_least=1)
    assert decode(Decision, msg.value()).draft_id == "down-1"
