"""A routing tally moves the certificate: the learner takes only tallies a router signed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from hitl_runtime.signing import dev_settings, signer_for
from router.app import decode_by_type
from router.config import RouterSettings
from router.tally import TALLY_TYPE, RoutingTally, TallyCell, tally_verifier

TOPIC = "hitl-router-decisions-by-type"
# What a forger wants the learner to believe: 10,000 clean auto-approved drafts at 0.97.
TALLY = RoutingTally(
    content_type="customer_email",
    threshold_version=0,
    slice=123,
    review_all=True,
    cells=[TallyCell(bucket=97, auto=10_000, audit_q=[])],
)


@dataclass
class Message:
    partition: int = 0
    offset: int = 7


@dataclass
class Event:  # the parts of a faust event the learner reads
    key: bytes
    value: bytes
    headers: dict[str, bytes]
    message: Message = field(default_factory=Message)


def settings(**fields: Any) -> RouterSettings:
    return RouterSettings(**(dev_settings("router") | fields))


def event(router: RouterSettings | None, value: bytes | None = None) -> Event:
    body = TALLY.model_dump_json().encode()
    headers: list[tuple[str, str | bytes | None]] = [
        ("ce_type", TALLY_TYPE.encode()),
        ("ce_id", b"1"),
    ]
    if router is not None:
        signer = signer_for(router)
        assert signer is not None
        headers = signer.sign(TOPIC, b"customer_email", body, headers)
    return Event(
        b"customer_email", value or body, {k: v for k, v in headers if isinstance(v, bytes)}
    )


def test_a_tally_this_router_signed_is_read() -> None:
    mine = settings()
    assert decode_by_type(event(mine), mine, tally_verifier(mine, TOPIC)) == TALLY


@pytest.mark.parametrize("case", ["unsigned", "another key", "altered after signing"])
def test_a_tally_no_router_signed_is_dropped(case: str) -> None:
    mine = settings()
    forged = {
        "unsigned": event(None),
        "another key": event(settings()),  # a key of the same id the router does not trust
        "altered after signing": event(
            mine, TALLY.model_dump_json().replace("10000", "90000").encode()
        ),
    }[case]
    assert decode_by_type(forged, mine, tally_verifier(mine, TOPIC)) is None


def test_with_signing_off_a_tally_is_read_unsigned() -> None:
    off = RouterSettings(signing_disabled=True)
    assert decode_by_type(event(None), off, tally_verifier(off, TOPIC)) == TALLY
