"""docs/design.md is kept true by the code: the topic table is the registry's, every event type
is named, and the README links the document (issue 23)."""

from __future__ import annotations

import re
from pathlib import Path

from hitl_schemas import EVENT_TYPES, TOPICS

ROOT = Path(__file__).resolve().parents[2]
DESIGN = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
# A row of the topic table: "| `name` | key | value | ..."
TABLE_ROW = re.compile(r"^\| `([a-z.-]+)` \| [^|]+ \| (\w+) \|", re.MULTILINE)


def test_the_topic_table_is_the_registry() -> None:
    rows = dict(TABLE_ROW.findall(DESIGN))
    assert set(rows) == set(TOPICS), "add or remove rows so the table matches TOPICS"
    for name, value in rows.items():
        assert value == TOPICS[name].value.__name__, f"{name}: the registry says its value is"


def test_every_event_type_is_named() -> None:
    missing = [short for short in EVENT_TYPES.values() if f"`{short}`" not in DESIGN]
    assert not missing, f"docs/design.md does not name these event types: {missing}"


def test_the_readme_links_the_design_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/design.md)" in readme
    assert "../shared" not in readme, "the README must not link outside the repository"
