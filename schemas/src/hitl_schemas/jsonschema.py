"""Generate the JSON Schema of every event into schemas/json/, or check it is up to date.

python -m hitl_schemas.jsonschema write   # regenerate
python -m hitl_schemas.jsonschema check   # exit 1 and name stale files
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hitl_schemas.registry import EVENT_TYPES, event_type_of

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "json"


def rendered() -> dict[str, str]:
    """File name -> JSON text for each event type, deterministic for a given contract."""
    out: dict[str, str] = {}
    for model, short in EVENT_TYPES.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://hitl-gate.dev/schemas/{event_type_of(model)}.json"
        out[f"{short}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    want = rendered()
    problems = [
        name
        for name, text in want.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    extra = {p.name for p in directory.glob("*.schema.json")} - set(want)
    return sorted(problems + [f"{name} (no such event)" for name in extra])


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (directory / name).write_text(text)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "write":
        write()
        return 0
    if command == "check":
        problems = stale()
        if problems:
            sys.stderr.write(
                "stale JSON Schema files: "
                + ", ".join(problems)
                + "\nrun `make schemas` and commit the result\n"
            )
            return 1
        return 0
    sys.stderr.write("usage: python -m hitl_schemas.jsonschema write|check\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
