"""The feedback log: the simulator's view of what happened on the site.

One JSON object per line, one line per judgment event, as described by the JSON Schema in
`schemas/feedback_log.v1.json` (the site writes it, this module reads and validates it). The
contract is versioned: a reader refuses a schema version it does not know instead of guessing.
"""

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STRENGTHS = ("slightly", "clearly", "much")


class FeedbackLogError(ValueError):
    pass


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("simulator").joinpath(f"schemas/feedback_log.v{SCHEMA_VERSION}.json").read_text())
    return loaded


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


_ENUMS = {"choice": {"a", "b", "tie", "both_bad"}, "strength": set(STRENGTHS), "shown_left": {"a", "b"}}
_POSITIVE = ("judgment_id", "comparison_id")
_TEXT = ("annotator", "datanet", "served_at", "submitted_at")


def _plainly_valid(row: dict[str, Any]) -> bool:
    """A fast check that accepts exactly the rows the schema accepts in the common case; anything it
    does not accept goes to the full validator, which also says what is wrong."""
    if len(row) != 12 or row.get("schema_version") != SCHEMA_VERSION or type(row.get("schema_version")) is not int:
        return False
    for key in _POSITIVE:
        value = row.get(key)
        if type(value) is not int or value < 1:
            return False
    spent = row.get("time_spent_ms")
    if type(spent) is not int or spent < 0:
        return False
    if not all(type(row.get(key)) is str and row[key] for key in _TEXT):
        return False
    if not all(row.get(key) in allowed for key, allowed in _ENUMS.items()):
        return False
    revision = row.get("revision_of", False)
    return revision is None or type(revision) is int


def validation_errors(row: dict[str, Any]) -> list[str]:
    """Every way `row` breaks the schema, as 'field: message' strings (empty when valid)."""
    if _plainly_valid(row):
        return []
    out = []
    for error in sorted(_validator().iter_errors(row), key=lambda e: list(e.path)):
        field = ".".join(str(p) for p in error.path) or "(row)"
        out.append(f"{field}: {error.message}")
    return out


def read_feedback_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yields the rows of a feedback log file, raising `FeedbackLogError` with file and line on the first bad row."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FeedbackLogError(f"{path}:{number}: not valid UTF-8 ({exc.reason})") from None
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FeedbackLogError(f"{path}:{number}: invalid JSON at column {exc.colno}: {exc.msg}") from None
            if isinstance(row, dict) and row.get("schema_version") not in (None, SCHEMA_VERSION):
                raise FeedbackLogError(
                    f"{path}:{number}: schema_version {row.get('schema_version')!r} is not supported (this reader knows {SCHEMA_VERSION})"
                )
            problems = validation_errors(row) if isinstance(row, dict) else ["(row): must be a JSON object"]
            if problems:
                raise FeedbackLogError(f"{path}:{number}: " + "; ".join(problems))
            yield row
