"""`hitl-bench scorer`'s pure parts: reading the corpora, pinning their files, the metrics."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from hitl_runtime.policy import load_policy
from hitl_schemas import Score, Signal, examples
from hitl_sim import corpora
from hitl_sim.corpora import CorpusError, Labelled, Source, comment_text, fetch
from hitl_sim.scorer_eval import as_draft, judge, reliability, summarise
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('"You fuck your dad."', "You fuck your dad."),  # the CSV field, its quotes kept
        ('"i really don\'t understand\\xa0 It seems"', "i really don't understand It seems"),
        ('"line one\\\\nline two"', "line one line two"),  # escaped twice in the file
        ('"Holder\\xe2\\x80\\x99s Department"', "Holder\u2019s Department"),  # UTF-8 bytes
        ('"plain"', "plain"),
    ],
)
def test_a_kaggle_comment_is_read_as_it_was_written(raw: str, text: str) -> None:
    assert comment_text(raw) == text


def _archive(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "pkg-1.0.tar.gz"
    body = b'Insult,Date,Comment\n1,,"""you idiot"""\n0,,"""thanks a lot"""\n'
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/insults/data/Inputs/train.csv")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_corpus_file_is_refused_unless_it_is_the_pinned_one(tmp_path: Path) -> None:
    archive, digest = _archive(tmp_path)
    cache = tmp_path / "cache"
    wrong = Source("pkg==1.0", archive.as_uri(), "0" * 64)
    with pytest.raises(CorpusError, match=f"pkg==1.0: .* has SHA-256 {digest}, expected 0{{64}}"):
        fetch(wrong, cache)
    assert not cache.exists() or not any(cache.iterdir())  # nothing unverified is cached
    pinned = Source("pkg==1.0", archive.as_uri(), digest)
    cached = fetch(pinned, cache)
    assert cached.read_bytes() == archive.read_bytes()
    archive.unlink()  # from the cache now, without the network
    assert fetch(pinned, cache) == cached
    with pytest.raises(CorpusError, match="cannot fetch"):
        fetch(Source("gone==1", (tmp_path / "gone.tar.gz").as_uri(), "0" * 64), cache)


def test_the_insult_split_reads_labels_and_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, digest = _archive(tmp_path)
    monkeypatch.setattr(corpora, "INSULTS", Source("pkg==1.0", archive.as_uri(), digest))
    items = corpora.insults("train", tmp_path / "cache")
    assert [(i.text, i.defect, i.kind, i.content_type) for i in items] == [
        ("you idiot", True, "insult", "chat_reply"),
        ("thanks a lot", False, "clean", "chat_reply"),
    ]
    with pytest.raises(CorpusError, match="split must be train or test"):
        corpora.insults("dev", tmp_path / "cache")


def test_our_emails_keep_their_sources_and_labels() -> None:
    items = corpora.customer_emails(ROOT / "bench" / "data" / "customer_emails.jsonl")
    labels = json.loads((ROOT / "bench" / "data" / "customer_emails.labels.json").read_text())
    assert len(items) == len(labels) and sum(i.defect for i in items) == 12
    assert all(as_draft(i).context.sources for i in items if i.sources)


def _scored(confidence: float, toxicity: float) -> Score:
    signals = [Signal(name="toxicity", value=toxicity), Signal(name="pii", value=0.0)]
    return examples.score(confidence=confidence, signals=signals)


def test_the_summary_is_what_the_router_would_do_on_default_thresholds() -> None:
    policy = load_policy(POLICY_FILE)  # chat_reply: default 0.85
    items = [Labelled(f"i{n}", "text", "chat_reply", defect, "x") for n, defect in
             enumerate([False, False, False, True, True])]  # fmt: skip
    scores = [_scored(0.95, 0.1), _scored(0.90, 0.2), _scored(0.60, 0.9),  # hard rule: 0.7
              _scored(0.70, 0.3), _scored(0.99, 0.0)]  # fmt: skip
    summary = summarise(judge(items, scores, policy))
    assert summary["clean_passed_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["clean_held_back_by"] == {"toxic_language": 1}
    assert summary["defects_caught"] == 1  # the 0.99 defect passes
    # (1 - confidence) ranks: defects 0.30, 0.01 against clean 0.05, 0.10, 0.40 -> 2/6.
    assert summary["auc"] == pytest.approx(2 / 6, abs=1e-4)
    assert summary["signal_auc"]["toxicity"] == pytest.approx(2 / 6, abs=1e-4)
    assert summary["signal_auc"]["pii"] == pytest.approx(0.5)  # no signal: a coin
    assert sum(r["items"] for r in summary["reliability"]) == 5


def test_reliability_bins_count_each_confidence_once() -> None:
    rows = reliability([0.05, 0.15, 0.15, 1.0], [0, 1, 0, 1])
    assert [(r["bin"][0], r["items"], r["acceptable_share"]) for r in rows] == [
        (0.0, 1, 0.0),
        (0.1, 2, 0.5),
        (0.9, 1, 1.0),
    ]
