from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hitl_runtime.policy import load_policy
from review_api.domain import (
    Denied,
    ItemView,
    Principal,
    check_claimable,
    check_lease_holder,
    check_verdict,
    may_see,
    two_approval_step,
)

POLICY = load_policy(Path(__file__).resolve().parents[3] / "policy" / "default.yaml")
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
JUNIOR = Principal("rv-j", "reviewer", "junior", None)
SENIOR = Principal("rv-s", "reviewer", "senior", None)
EMAIL_ONLY = Principal("rv-e", "reviewer", "senior", frozenset({"customer_email"}))
LEAD = Principal("rv-l", "lead", "junior", None)


@pytest.mark.parametrize(
    ("who", "tier", "content_type", "sees"),
    [
        (JUNIOR, "junior", "chat_reply", True),
        (JUNIOR, "senior", "chat_reply", False),
        (SENIOR, "junior", "chat_reply", True),
        (EMAIL_ONLY, "junior", "chat_reply", False),
        (EMAIL_ONLY, "senior", "customer_email", True),
        (LEAD, "senior", "legal_clause", True),
    ],
)
def test_who_sees_what(who: Principal, tier: str, content_type: str, sees: bool) -> None:
    assert may_see(who, tier=tier, content_type=content_type, policy=POLICY) is sees


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
