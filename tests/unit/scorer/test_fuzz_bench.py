"""The fuzz benchmark's generators write drafts the scorer accepts, at the input limits, and its
report has the figures `make bench-fuzz` promises (speed itself is the benchmark's to measure)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench import scorer_fuzz_bench as fuzz


def test_every_generator_writes_a_valid_draft_at_the_limits() -> None:
    limits = fuzz.default_limits()
    for index, (name, generate) in enumerate(sorted(fuzz.GENERATORS.items()), start=1):
        material = generate(random.Random(index), limits.max_text_chars, limits.max_context_chars)
        draft = fuzz.build(index, material, "chat_reply", limits)
        assert len(draft.text) <= limits.max_text_chars, name
        assert draft.context.total_chars() <= limits.max_context_chars, name
        # Each aims at the limits: a long text or long sources (the PII ones at the text).
        assert max(len(draft.text), draft.context.total_chars()) > 0.9 * limits.max_text_chars


def test_the_report_has_worst_p99_and_p50_per_generator(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    only = "dollar_ones,quotes,grounding_caps"
    assert fuzz.main(["--per-generator", "2", "--only", only, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["by_generator"]) == set(only.split(","))
    for figures in result["by_generator"].values():
        assert figures["drafts"] == 2
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["worst_ms"]
    assert result["overall"]["drafts"] == 6
    assert result["limits"]["max_context_chars"] == 400_000
