"""Every route reason the schema allows is explained where people read it: the reviewer's page
and the metrics reference. The schema's Literal is the one list; these follow it."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from hitl_schemas.events import RouteReasonKind

ROOT = Path(__file__).resolve().parents[2]
KINDS = typing.get_args(RouteReasonKind)


def reviewer_texts() -> set[str]:
    script = (ROOT / "services/review-api/src/review_api/web/static/item.js").read_text()
    block = re.search(r"const REASONS = \{(.*?)\};", script, re.S)
    assert block is not None, "item.js has no REASONS table"
    return set(re.findall(r"^\s*(\w+):", block.group(1), re.M))


@pytest.mark.parametrize("kind", KINDS)
def test_the_reviewer_page_explains_each_route_reason(kind: str) -> None:
    assert kind in reviewer_texts()


@pytest.mark.parametrize("kind", KINDS)
def test_the_metrics_reference_lists_each_route_reason(kind: str) -> None:
    row = next(
        line
        for line in (ROOT / "docs/metrics.md").read_text().splitlines()
        if line.startswith("| `hitl_router_routed_total`")
    )
    assert f"`{kind}`" in row


def test_the_reviewer_page_names_no_reason_the_schema_lacks() -> None:
    assert reviewer_texts() <= set(KINDS)
