"""The chaos run's stuck report says what the broker holds: group states and transactions."""

from __future__ import annotations

from hitl_sim.diagnose import render_report, stage_ages


def test_the_report_names_owed_ids_groups_and_open_transactions() -> None:
    report = {
        "owed": {"scored": ["d-1", "d-2"]},
        "processes": {"scorer": {"pid": 7, "up": True}},
        "group_lag": {"p.hitl-scorer": {"drafts[0]": 12}},
        "groups": {
            "p.hitl-scorer": {
                "state": "ConsumerGroupState.STABLE",
                "members": {"scorer-1": ["drafts[0]"]},
            }
        },  # fmt: skip
        "transactions": ["p.scorer-1-score  1  7  Ongoing"],
    }
    text = render_report(report)
    assert "scored: d-1, d-2" in text
    assert "lag {'drafts[0]': 12}" in text
    assert "STABLE" in text and "scorer-1" in text
    assert "transaction p.scorer-1-score  1  7  Ongoing" in text


def test_stage_ages_are_read_from_a_metrics_page() -> None:
    page = 'hitl_stage_progress_age_seconds{service="router",stage="route"} 61.25\nother 1\n'
    assert stage_ages(page) == {"router/route": 61.2}
