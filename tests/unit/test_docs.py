"""The README's settings table must name every shared setting."""

from __future__ import annotations

from pathlib import Path

from hitl_runtime.settings import ServiceSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_shared_setting() -> None:
    text = README.read_text()
    missing = [
        f"HITL_{name.upper()}"
        for name in ServiceSettings.model_fields
        if f"`HITL_{name.upper()}`" not in text
    ]
    assert missing == []
