"""review-api's metrics labelled by content type stay bounded by the policy: items and decisions
of made-up types share one label (hitl_runtime.metrics.content_type_label; issue 15 item 7)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hitl_runtime.metrics import UNKNOWN_CONTENT_TYPE
from hitl_runtime.policy import load_policy
from review_api.adapters import export_queue_gauges
from review_api.config import ReviewApiSettings
from tests.integration.reviewkit import add_reviewer, routed, running, seed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "policy" / "default.yaml")


def test_made_up_types_share_one_label_in_the_queue_and_decision_metrics(
    settings_factory: Callable[..., Any], topics: str, tmp_path: Path
) -> None:
    fields: dict[str, Any] = {"signing_disabled": True}  # these test drafts are not signed
    if "signing_disabled" not in ReviewApiSettings.model_fields:
        fields = {}
    settings: ReviewApiSettings = settings_factory(
        ReviewApiSettings,
        service_name="review-api",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/review.db",
        policy_file=ROOT / "policy" / "default.yaml",
        group_id=f"review-{topics}",
        ingest=False,
        **fields,
    )
    tag = uuid.uuid4().hex[:8]
    made_up = [f"madeup_{tag}_{i}" for i in range(40)]

    async def scenario() -> tuple[str, str]:
        async with running(settings) as client:
            await seed(
                client,
                [routed(f"{t}-d", content_type=t, tier="senior") for t in made_up]
                + [routed(f"{tag}-known", tier="junior")],
            )
            async with client.app.state.sessions() as session:  # type: ignore[attr-defined]
                await export_queue_gauges(session, POLICY)
            queued = (await client.get("/metrics")).text
            senior = await add_reviewer(client, f"rv-{tag}", tier="senior")
            for _ in range(5):
                claimed = await client.post("/v1/items/claim-next", headers=senior)
                assert claimed.status_code == 200, claimed.text
                draft_id = claimed.json()["draft_id"]
                answer = await client.post(
                    f"/v1/items/{draft_id}/decision", json={"verdict": "approve"}, headers=senior
                )
                assert answer.status_code == 200, answer.text
            return queued, (await client.get("/metrics")).text

    queued, decided = asyncio.run(scenario())
    assert (
        f'hitl_review_queue_depth{{content_type="{UNKNOWN_CONTENT_TYPE}",tier="senior"}} 40.0'
        in queued
    )
    assert 'hitl_review_queue_depth{content_type="customer_email",tier="junior"} 1.0' in queued
    assert (
        f'hitl_review_decisions_total{{content_type="{UNKNOWN_CONTENT_TYPE}",verdict="approve"}}'
        in decided
    )
    assert f"madeup_{tag}" not in queued + decided
