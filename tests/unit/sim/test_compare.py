"""The policy comparison: exact numbers on hand-made streams, and the backtest CLI."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_runtime.policy import load_policy
from hitl_sim import bench_cli
from hitl_sim.compare import Comparison, compare
from hitl_sim.offline import HistoryError, history_records
from router.replay import Record
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]
POLICY = load_policy(POLICY_FILE)


def records(rows: list[tuple[float, bool]], content_type: str = "chat_reply") -> list[Record]:
    return [Record(f"d{i}", content_type, c, d) for i, (c, d) in enumerate(rows)]


# chat_reply's target is 3 %: 100 drafts at 0.95 with 1 defect, 100 at 0.80 with 10 defects.
STREAM = [(0.95, i == 0) for i in range(100)] + [(0.80, i < 10) for i in range(100)]


@pytest.mark.parametrize(
    ("threshold", "review_rate", "escape_rate"),
    [
        (0.85, 0.5, 0.01),  # only the 0.95 drafts pass
        (0.80, 0.0, 0.055),  # everything passes: 11 defects in 200
        (0.96, 1.0, 0.0),  # nothing passes
    ],
)
def test_static_policies_count_reviews_and_escapes(
    threshold: float, review_rate: float, escape_rate: float
) -> None:
    comparison = Comparison(POLICY)
    list(comparison.observe(records(STREAM)))
    row = comparison.static(comparison.everywhere(round(threshold * 1000)))["per_content_type"]
    assert row["chat_reply"]["review_rate"] == review_rate
    assert row["chat_reply"]["escape_rate"] == escape_rate


def test_oracle_picks_the_loosest_threshold_within_target() -> None:
    comparison = Comparison(POLICY)
    list(comparison.observe(records(STREAM)))
    # 0.80 lets 5.5 % escape (over 3 %); anything in (0.80, 0.95] lets 1 % escape.
    assert comparison.oracle()["chat_reply"] == 801


def test_a_draft_caught_by_a_hard_rule_is_reviewed_under_every_policy() -> None:
    caught = Record("x", "chat_reply", 0.99, True, tripped=("pii_found", None, None))
    report = compare([caught], POLICY, delay=0)
    for name, summary in report.policies.items():
        assert summary["per_content_type"]["chat_reply"]["review_rate"] == 1.0, name


def test_the_global_compliant_threshold_keeps_every_type_within_target() -> None:
    stream = records(STREAM) + records(
        [(0.97, i < 1) for i in range(100)] + [(0.93, i < 5) for i in range(100)], "refund_offer"
    )
    comparison = Comparison(POLICY)
    list(comparison.observe(stream))
    b = comparison.compliant_global()
    # refund_offer (1 %) needs > 0.93; then chat_reply's 0.95 drafts pass at 1 %.
    assert 931 <= b <= 950
    summary = comparison.static(comparison.everywhere(b))
    assert summary["all_within_target"] is True


def _history(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        ct = rng.choice(["chat_reply", "customer_email", "refund_offer"])
        c = rng.betavariate(8, 1.5)
        lines.append(json.dumps({"draft_id": f"h{i}", "content_type": ct, "confidence": c,
                                 "defect": rng.random() < (1 - c) / 3}))  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def test_the_backtest_writes_every_policy_in_the_routing_shape(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(_history(6000))
    out, plot = tmp_path / "out.json", tmp_path / "out.png"
    code = bench_cli.main(
        ["replay", "--input", str(history), "--json", str(out), "--plot", str(plot)]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["drafts"] == 6000
    assert set(doc["policies"]) == {
        "review-all", "static-0.85", "static-0.90", "adaptive", "certified-floor",
        "oracle-static", "static-compliant",
    }  # fmt: skip
    for summary in doc["policies"].values():
        assert {"review_rate", "escape_rate", "audit_rate", "per_content_type"} <= set(summary)
        for row in summary["per_content_type"].values():
            assert {"items", "review_rate", "escape_rate", "target", "within_target"} <= set(row)
    assert doc["policies"]["review-all"]["review_rate"] == 1.0
    assert doc["policies"]["oracle-static"]["all_within_target"] is True
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_backtest_is_repeatable(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(_history(3000, seed=9))
    outs = []
    for name in ("a.json", "b.json"):
        assert (
            bench_cli.main(["replay", "--input", str(history), "--json", str(tmp_path / name)]) == 0
        )
        outs.append(json.loads((tmp_path / name).read_text())["policies"])
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "history:2: not a JSON object"),
        (
            b'{"draft_id": "a", "content_type": "x", "confidence": 1.5, "defect": false}',
            "history:2: field 'confidence'",
        ),  # fmt: skip
        (b'{"draft_id": "a", "content_type": "x", "confidence": 0.5}', "field 'defect'"),
    ],
)
def test_a_bad_history_line_stops_the_run_naming_the_line(line: bytes, message: str) -> None:
    good = b'{"draft_id": "a", "content_type": "x", "confidence": 0.5, "defect": false}\n'
    with pytest.raises(HistoryError, match=message):
        list(history_records(io.BytesIO(good + line + b"\n")))


def test_the_history_is_read_lazily() -> None:
    def endless() -> Iterator[bytes]:
        i = 0
        while True:
            i += 1
            yield (
                b'{"draft_id": "d%d", "content_type": "x", "confidence": 0.5, "defect": false}\n'
                % i
            )

    reader = history_records(endless())
    first = [next(reader) for _ in range(5)]
    assert [r.draft_id for r in first] == ["d1", "d2", "d3", "d4", "d5"]


def test_a_missing_history_file_is_a_clear_error(tmp_path: Path) -> None:
    assert bench_cli.main(["replay", "--input", str(tmp_path / "nope.jsonl"), "--json",
                           str(tmp_path / "o.json")]) == 2  # fmt: skip


def test_rows_of_the_feedback_label_export_replay_as_they_are() -> None:
    row = {"draft_id": "a", "tenant": "acme", "content_type": "chat_reply", "confidence": 0.9,
           "is_error": True, "verdict": "reject", "text": "..."}  # fmt: skip
    (record,) = history_records([json.dumps(row).encode()])
    assert (record.draft_id, record.content_type, record.defect) == ("a", "chat_reply", True)


def test_routing_scores_a_scenario_with_the_real_scorer_and_compares(tmp_path: Path) -> None:
    out = tmp_path / "steady.json"
    scenario = ROOT / "bench" / "scenarios" / "steady.yaml"
    code = bench_cli.main(
        ["routing", "--scenario", str(scenario), "--drafts", "1500", "--json", str(out)]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert (doc["scenario"], doc["drafts"], doc["seed"]) == ("steady", 1500, 7)
    static = doc["policies"]["static-0.85"]["per_content_type"]
    assert set(static) == {"customer_email", "chat_reply", "refund_offer", "legal_clause"}
    # legal_clause is high-risk: the adaptive policy reviews every one until it certifies.
    assert doc["policies"]["adaptive"]["per_content_type"]["legal_clause"]["review_rate"] == 1.0


def test_the_scorer_learns_from_simulated_reviews_and_beats_the_prior(tmp_path: Path) -> None:
    """From the simulator's reviews (reviewer bots' verdicts on routed drafts), a retrained
    combiner, held to the safety bounds as the feedback service holds it, is better calibrated
    on this traffic than the prior at every checkpoint, and some checkpoint publishes it. One
    that is not published was refused by the publish rule, which says why (prior-2 was itself
    fitted on simulated drafts, so a retrained model does not always rank them as well)."""
    out = tmp_path / "learning.json"
    scenario = ROOT / "bench" / "scenarios" / "steady.yaml"
    assert bench_cli.main(["learning", "--scenario", str(scenario), "--drafts", "6000",
                           "--json", str(out)]) == 0  # fmt: skip
    doc = json.loads(out.read_text())
    trained = [c for c in doc["checkpoints"] if c["trained"]]
    assert doc["reviews"] >= 4000 and trained[-1]["reviews"] == 4000  # cold start reviews all
    assert all(c["retrained"]["ece"] < c["prior"]["ece"] for c in trained)
    assert doc["first_published_at_reviews"] is not None
    for c in trained:
        assert c["published"] is not bool(c["refusals"]), c  # a model not published says why


def test_a_content_type_the_policy_does_not_know_is_reviewed_and_counted(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    lines = [{"draft_id": f"u{i}", "content_type": "haiku" if i % 4 == 0 else "chat_reply",
              "confidence": 0.99, "defect": False} for i in range(400)]  # fmt: skip
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.json"
    assert bench_cli.main(["replay", "--input", str(history), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["unknown_content_type_items"] == 100
    for name, summary in doc["policies"].items():
        row = summary["per_content_type"]["haiku"]
        assert (row["items"], row["review_rate"], row["target"]) == (100, 1.0, None), name
