from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hitl_runtime.policy import load_policy
from review_api.domain import (
    Denied,
    ItemView,
    Principal,
    check_claimable,
    check_lease_holder,
    check_replay,
    check_verdict,
    may_see,
    request_fingerprint,
    scope_of,
    two_approval_step,
)
from testkit import POLICY_FILE

POLICY = load_policy(POLICY_FILE)
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
JUNIOR = Principal("rv-j", "reviewer", "junior", None)
SENIOR = Principal("rv-s", "reviewer", "senior", None)
EMAIL_ONLY = Principal("rv-e", "reviewer", "senior", frozenset({"customer_email"}))
LEAD = Principal("rv-l", "lead", "junior", None)
NO_TYPES = Principal("rv-n", "reviewer", "senior", frozenset())


@pytest.mark.parametrize(
    ("who", "tier", "content_type", "sees"),
    [
        (JUNIOR, "junior", "chat_reply", True),
        (JUNIOR, "senior", "chat_reply", False),
        (SENIOR, "junior", "chat_reply", True),
        (EMAIL_ONLY, "junior", "chat_reply", False),
        (EMAIL_ONLY, "senior", "customer_email", True),
        (LEAD, "senior", "legal_clause", True),
        (NO_TYPES, "junior", "customer_email", False),
        (NO_TYPES, "senior", "chat_reply", False),
    ],
)
def test_who_sees_what(who: Principal, tier: str, content_type: str, sees: bool) -> None:
    assert may_see(who, tier=tier, content_type=content_type, policy=POLICY) is sees


@pytest.mark.parametrize(
    ("who", "tiers", "types"),
    [
        (JUNIOR, ("junior",), None),
        (SENIOR, ("junior", "senior"), None),
        (EMAIL_ONLY, ("junior", "senior"), frozenset({"customer_email"})),
        # An empty list is no types at all, not every type (that is None): the claim-next bug.
        (NO_TYPES, ("junior", "senior"), frozenset()),
        (LEAD, tuple(POLICY.tiers), None),
        (Principal("rv-x", "reviewer", "retired_tier", None), (), None),
    ],
)
def test_the_scope_the_queries_filter_by(
    who: Principal, tiers: tuple[str, ...], types: frozenset[str] | None
) -> None:
    scope = scope_of(who, POLICY)
    assert (scope.tiers, scope.content_types) == (tiers, types)


def item(
    status: str = "queued", holder: str | None = None, expires_in: float | None = None
) -> ItemView:
    expires = NOW + timedelta(seconds=expires_in) if expires_in is not None else None
    return ItemView("d-1", "chat_reply", "junior", status, holder, expires)


@pytest.mark.parametrize(
    ("view", "status"),
    [
        (item("decided"), 409),
        (item(holder="rv-other", expires_in=60), 409),
    ],
)
def test_claim_refusals(view: ItemView, status: int) -> None:
    with pytest.raises(Denied) as caught:
        check_claimable(JUNIOR, view, POLICY, NOW)
    assert caught.value.status == status


def test_an_expired_lease_can_be_claimed_by_another() -> None:
    check_claimable(JUNIOR, item(holder="rv-other", expires_in=-1), POLICY, NOW)


@pytest.mark.parametrize(
    ("view", "status"),
    [
        (item(holder="rv-other", expires_in=60), 403),
        (item(holder="rv-j", expires_in=-1), 409),
        (item("decided", holder="rv-j", expires_in=60), 409),
    ],
)
def test_only_a_live_lease_holder_may_decide(view: ItemView, status: int) -> None:
    with pytest.raises(Denied) as caught:
        check_lease_holder(JUNIOR, view, NOW)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("verdict", "text", "codes", "field"),
    [
        ("edit", None, ["tone"], "final_text"),
        ("edit", "   ", ["tone"], "final_text"),
        ("approve", "text", [], "final_text"),
        ("reject", None, [], "reason_codes"),
        ("reject", None, ["vibes"], "reason_codes"),
    ],
)
def test_verdict_rules_name_the_field(
    verdict: str, text: str | None, codes: list[str], field: str
) -> None:
    with pytest.raises(Denied) as caught:
        check_verdict(verdict, text, codes, POLICY.content_types["chat_reply"])  # type: ignore[arg-type]
    assert caught.value.status == 422 and caught.value.message.startswith(field)


@pytest.mark.parametrize(
    ("stage", "prior", "verdict", "text", "outcome"),
    [
        ("first", [], "approve", None, "await_second"),
        ("second", [("a", "approve", None)], "approve", None, "final"),
        ("second", [("a", "approve", None)], "reject", None, "disagree"),
        ("second", [("a", "edit", "Fixed  text.")], "edit", "Fixed text.", "final"),
        ("second", [("a", "edit", "Fixed text.")], "edit", "Other text.", "disagree"),
        ("tiebreak", [("a", "approve", None), ("b", "reject", None)], "reject", None, "final"),
    ],
)
def test_two_approval_steps(
    stage: str,
    prior: list[tuple[str, str, str | None]],
    verdict: str,
    text: str | None,
    outcome: str,
) -> None:
    assert two_approval_step(stage, prior, "me", verdict, text) == outcome  # type: ignore[arg-type]


def test_the_same_reviewer_cannot_be_both_approvals() -> None:
    with pytest.raises(Denied) as caught:
        two_approval_step("second", [("me", "approve", None)], "me", "approve", None)
    assert caught.value.status == 409


def test_cohens_kappa_on_a_textbook_table() -> None:
    from review_api.domain import cohens_kappa

    pairs = (
        [("approve", "approve")] * 20
        + [("approve", "reject")] * 5
        + [("reject", "approve")] * 10
        + [("reject", "reject")] * 15
    )
    assert cohens_kappa(pairs) == pytest.approx(0.4)
    assert cohens_kappa([]) is None
    assert cohens_kappa([("approve", "approve")] * 3) is None


FIRST = request_fingerprint("d-1", "edit", "Fixed.", ["tone"], "")


@pytest.mark.parametrize(
    ("draft_id", "fingerprint", "stored", "refusal"),
    [
        ("d-1", FIRST, FIRST, None),  # a true retry gets the first answer
        ("d-1", FIRST, None, None),  # stored before fingerprints: matched on the item alone
        ("d-2", FIRST, FIRST, "another item"),
        ("d-1", request_fingerprint("d-1", "approve", None, [], ""), FIRST, "different body"),
        ("d-1", request_fingerprint("d-1", "edit", "Fixed!", ["tone"], ""), FIRST, "different"),
        ("d-1", request_fingerprint("d-1", "edit", "Fixed.", ["tone"], "n"), FIRST, "different"),
    ],
)
def test_an_idempotency_key_replays_only_its_own_request(
    draft_id: str, fingerprint: str, stored: str | None, refusal: str | None
) -> None:
    def replay() -> None:
        check_replay(
            "k1",
            draft_id=draft_id,
            fingerprint=fingerprint,
            earlier_draft_id="d-1",
            earlier_fingerprint=stored,
        )

    if refusal is None:
        replay()
        return
    with pytest.raises(Denied, match=refusal) as caught:
        replay()
    assert caught.value.status == 422 and "Idempotency-Key" in caught.value.message


def test_the_fingerprint_tells_each_part_of_the_request_apart() -> None:
    # No two of these may collide, or a replay with another request would pass as a retry.
    variants = [
        ("d-1", "edit", "Fixed.", ["tone"], ""),
        ("d-1", "edit", "Fixed.", ["tone", "other"], ""),
        ("d-1", "edit", "Fixed.", [], "tone"),
        ("d-1", "reject", None, ["tone"], ""),
        ("d-1", "reject", "", ["tone"], ""),
        ("d-1x", "edit", "Fixed.", ["tone"], ""),
    ]
    prints = {request_fingerprint(*v) for v in variants}  # type: ignore[arg-type]
    assert len(prints) == len(variants)
    assert request_fingerprint(*variants[0]) == FIRST  # type: ignore[arg-type]
