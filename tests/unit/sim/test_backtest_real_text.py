"""The backtest on real human-labelled text, not on our simulator.

The text: VADER's sentiment lexicon (vaderSentiment on PyPI), 7,500 English words, emoticons and
slang, each rated by ten human raters from -4 to +4. A careful human would not let an item
through (`defect`) when at least half the raters called it strongly negative (<= -3). The
scores: alt-profanity-check's trained linear model (the scorer's toxicity signal), confidence =
1 - P(offensive). The items are split between two content types by a stable hash and shuffled
into a fixed "time" order.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from importlib import resources
from pathlib import Path

import pytest

from hitl_sim import bench_cli
from scorer.signals.toxicity import ToxicityClassifier

TYPES = ("chat_reply", "customer_email")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lexicon = resources.files("vaderSentiment") / "vader_lexicon.txt"
    classifier = ToxicityClassifier()
    lines = []
    for raw in lexicon.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = raw.split("\t")
        if len(parts) < 4:
            continue
        token, ratings = parts[0], ast.literal_eval(parts[3])
        digest = hashlib.sha256(token.encode()).digest()
        lines.append(
            {
                "draft_id": digest.hex()[:16],
                "content_type": TYPES[digest[0] % 2],
                "confidence": round(1.0 - classifier.probability(token), 4),
                "defect": sum(r <= -3 for r in ratings) >= 5,
            }
        )
    random.Random(11).shuffle(lines)
    path = tmp_path_factory.mktemp("vader") / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _static_by_hand(path: Path, threshold: float) -> dict[str, tuple[int, int, int]]:
    """(items, auto-approved, escapes) per type, counted straight from the file."""
    out: dict[str, list[int]] = {t: [0, 0, 0] for t in TYPES}
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        counts = out[line["content_type"]]
        counts[0] += 1
        if line["confidence"] >= threshold:
            counts[1] += 1
            counts[2] += int(line["defect"])
    return {t: (a, b, c) for t, (a, b, c) in out.items()}


def test_the_backtest_runs_on_real_labelled_text(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert bench_cli.main(["replay", "--input", str(history), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    policies = doc["policies"]
    assert doc["drafts"] > 7000
    assert policies["review-all"]["review_rate"] == 1.0
    # The static policy's numbers agree with a count made by hand from the file.
    for content_type, (items, auto, escapes) in _static_by_hand(history, 0.85).items():
        row = policies["static-0.85"]["per_content_type"][content_type]
        assert row["items"] == items
        assert row["review_rate"] == pytest.approx(1 - auto / items, abs=1e-4)
        assert row["escape_rate"] == pytest.approx(escapes / auto, abs=1e-4)
    for name in ("oracle-static", "static-compliant"):
        assert policies[name]["all_within_target"] is True, name
    # The weak classifier misses most negative words, so the router must end up reviewing
    # (nearly) everything; what escaped did so during the cold start, before min_evidence.
    for content_type, row in policies["adaptive"]["per_content_type"].items():
        assert row["final_mode"] == "review_all", content_type
        assert (
            row["review_rate"]
            > policies["static-0.85"]["per_content_type"][content_type]["review_rate"]
        )
