"""Reviewer bots: simulated humans working the real review-api over HTTP, as real clients do.

A bot claims the next item of its tier, takes a drawn review time (scaled down in the demo),
then decides from the simulator's ground truth with a configured accuracy: approve a clean
draft, edit a defective one back to its clean text (or reject what cannot be fixed), with the
content type's reason codes; now and then it is unsure and escalates instead. `act` is the pure
part; `ReviewerBot` is the HTTP edge.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from hitl_sim.world import Truth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    kind: Literal["approve", "edit", "reject", "escalate"]
    final_text: str | None = None
    reason_codes: tuple[str, ...] = ()


def reason_for(truth: Truth, allowed: Sequence[str]) -> tuple[str, ...]:
    for code in truth.reason_codes:
        if code in allowed:
            return (code,)
    return ("other",) if "other" in allowed or not allowed else (allowed[0],)


def act(
    truth: Truth | None,
    allowed_reasons: Sequence[str],
    *,
    accuracy: float,
    unsure_rate: float,
    can_escalate: bool,
    rng: random.Random,
    false_reject_rate: float = 0.0,
) -> Action:
    """What a reviewer does with one item. `truth` is None for a draft the simulator did not
    write (someone else's traffic on the same topics): looked at, approved."""
    if truth is None:
        return Action("approve")
    if can_escalate and rng.random() < unsure_rate:
        return Action("escalate")
    if not truth.is_defect:
        # Careful reviewers rarely reject a correct draft; missing a subtle defect is the
        # common mistake, so the two error rates are separate settings.
        if rng.random() < false_reject_rate:
            code = allowed_reasons[0] if allowed_reasons else "other"
            return Action("reject", reason_codes=(code,))
        return Action("approve")
    if rng.random() >= accuracy:
        return Action("approve")  # missed it
    if truth.verdict == "reject":
        return Action("reject", reason_codes=reason_for(truth, allowed_reasons))
    return Action("edit", truth.fixed_text, reason_for(truth, allowed_reasons))


@dataclass
class BotStats:
    decided: int = 0
    escalated: int = 0
    conflicts: int = 0  # lease lost or item decided elsewhere: normal under contention
    errors: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)


@dataclass
class ReviewerBot:
    reviewer_id: str
    api_key: str
    truths: Mapping[str, Truth]
    reason_codes: Mapping[str, Sequence[str]]  # per content type, from the policy
    accuracy: float
    false_reject_rate: float
    unsure_rate: float
    seconds_per_item: tuple[float, float]
    time_scale: float
    can_escalate: bool
    rng: random.Random
    stats: BotStats = field(default_factory=BotStats)

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        while not stop.is_set():
            try:
                worked = await self._one(client, headers)
            except httpx.HTTPError as exc:
                self.stats.errors += 1
                log.warning("bot %s: %s", self.reviewer_id, type(exc).__name__)
                worked = False
            if not worked:  # empty queue or a hiccup: look again shortly
                try:
                    await asyncio.wait_for(stop.wait(), 0.5)
                except TimeoutError:
                    pass

    async def _one(self, client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
        claimed = await client.post("/v1/items/claim-next", headers=headers)
        if claimed.status_code == 204:
            return False
        claimed.raise_for_status()
        item: dict[str, Any] = claimed.json()
        draft_id = str(item["draft_id"])
        low, high = self.seconds_per_item
        await asyncio.sleep(self.rng.uniform(low, high) * self.time_scale)  # reading time
        action = act(
            self.truths.get(draft_id),
            self.reason_codes.get(str(item.get("content_type")), ()),
            accuracy=self.accuracy,
            false_reject_rate=self.false_reject_rate,
            unsure_rate=self.unsure_rate,
            can_escalate=self.can_escalate,
            rng=self.rng,
        )
        if action.kind == "escalate":
            response = await client.post(
                f"/v1/items/{draft_id}/escalate",
                json={"reason": "unsure", "note": "simulated: not sure"},
                headers=headers,
            )
            self._count(response, "escalated")
            return True
        body: dict[str, Any] = {"verdict": action.kind, "reason_codes": list(action.reason_codes)}
        if action.final_text is not None:
            body["final_text"] = action.final_text
        response = await client.post(
            f"/v1/items/{draft_id}/decision",
            json=body,
            headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        self._count(response, action.kind)
        return True

    def _count(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (409, 410, 423):
            self.stats.conflicts += 1
        elif response.is_success:
            if what == "escalated":
                self.stats.escalated += 1
            else:
                self.stats.decided += 1
                self.stats.by_verdict[what] = self.stats.by_verdict.get(what, 0) + 1
        else:
            self.stats.errors += 1
            log.warning(
                "bot %s: %s %s", self.reviewer_id, response.status_code, response.text[:200]
            )


def run_all(bots: list[ReviewerBot], base: str, stop: threading.Event) -> None:
    """Run the bots until `stop` is set, from a plain thread (their own event loop)."""

    async def main() -> None:
        halt = asyncio.Event()
        limits = httpx.Limits(max_connections=len(bots) + 2)
        async with httpx.AsyncClient(base_url=base, timeout=15, limits=limits) as client:
            tasks = [asyncio.create_task(bot.run(client, halt)) for bot in bots]
            await asyncio.to_thread(stop.wait)
            halt.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
