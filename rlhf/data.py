"""Preference data: read the site's export (and other TRL preference files), normalise it, split it.

Accepted inputs, all normalised to `PreferenceRow` (explicit `prompt`, `chosen`, `rejected` strings):

- The site's export, one JSON object a line:
  `{"row_id": "r1", "prompt": "...", "chosen": "...", "rejected": "...", "margin": 0.8,
    "judgment_ids": [11, 12], "contributor_ids": ["c-7", "c-9"]}`
  `margin`, `judgment_ids`, `contributor_ids` and `row_id` are optional; `contributor_ids[i]` is the
  pseudonymous author of `judgment_ids[i]`.
- Any TRL preference JSONL: explicit prompt (`prompt`/`chosen`/`rejected`), implicit prompt (`chosen`/`rejected`
  only), standard (strings) or conversational (lists of `{"role", "content"}` messages).
- HH-RLHF style implicit prompts: `\\n\\nHuman: ...\\n\\nAssistant: ...` turns where chosen and rejected share
  every turn but the last Assistant reply; the prompt is the common prefix up to and including the last
  `\\n\\nAssistant:`.
- A Hugging Face `datasets` folder written by `Dataset.save_to_disk` (or a `DatasetDict` folder with a `train`
  split) holding the same columns.

Conversational rows are rendered to the same `Human:`/`Assistant:` text, so every model sees one text format.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

if TYPE_CHECKING:
    import datasets

HH_ASSISTANT_TURN = "\n\nAssistant:"
_ROLE_NAMES = {"user": "Human", "human": "Human", "assistant": "Assistant", "system": "System"}


class PreferenceDataError(ValueError):
    """Bad preference input: the message names the file, the line (or row index) and the field."""

    def __init__(self, source: str, location: str, problem: str, field: str | None = None):
        where = f"{source}, {location}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.location = location
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class PreferenceRow:
    """One preference pair with an explicit prompt; `prompt + chosen` is the whole preferred text."""

    row_id: str
    prompt: str
    chosen: str
    rejected: str
    margin: float | None = None
    judgment_ids: tuple[int, ...] = ()
    contributor_ids: tuple[str, ...] = ()

    def as_trl_record(self, *, with_margin: bool) -> dict[str, Any]:
        record: dict[str, Any] = {"row_id": self.row_id, "prompt": self.prompt, "chosen": self.chosen,
                                  "rejected": self.rejected}
        if with_margin:
            record["margin"] = float(self.margin if self.margin is not None else 0.0)
        return record


# A JSON object of the input, and the error naming one of its fields (its name, then the problem) to raise.
_Record: TypeAlias = dict[str, Any]
_Fail: TypeAlias = Callable[[str, str], PreferenceDataError]


class _JudgmentLinks(TypedDict):
    judgment_ids: tuple[int, ...]
    contributor_ids: tuple[str, ...]


# ---------------------------------------------------------------- what a valid pair is


def preference_pair_problem(prompt: Any, chosen: Any, rejected: Any) -> tuple[str, str] | None:
    """The one definition of a valid preference pair, as (field, problem) of the first rule it breaks, or None.

    The site's import refuses what breaks it (naming the line), its export leaves such a pair out (and counts
    it), and training refuses it (naming the line): a pair the import accepts is one training accepts.
    - `prompt`, `chosen` and `rejected` are strings, and the prompt has text: both trainers condition on it.
    - A reply may be empty: HH-RLHF has pairs where the annotator preferred (or rejected) saying nothing, a real
      preference; the models see the prompt alone (then the end of the text) for it.
    - The replies differ: a pair of the same text teaches nothing, and its preference is undefined.
    - No text holds U+0000: PostgreSQL text cannot store it, so a pair with one could not round-trip the site.
    """
    for field, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str):
            return field, f"expected a string, got {type(value).__name__}"
        if "\x00" in value:
            return field, "contains a NUL character (\\u0000), which text cannot hold"
    if not prompt.strip():
        return "prompt", "empty: the replies share no prompt"
    if chosen == rejected:
        return "rejected", "is identical to chosen: nothing to compare"
    return None


# ---------------------------------------------------------------- reading


def preference_rows_load(path: str | Path) -> list[PreferenceRow]:
    """Read a JSONL export or a `datasets` folder into normalised rows (in file order).

    Raises `PreferenceDataError` naming the file, line and field of the first bad row, and `FileNotFoundError`
    when `path` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such preference file or dataset folder")
    if path.is_dir():
        return _rows_from_dataset_folder(path)
    return _rows_from_jsonl(path)


def _rows_from_jsonl(path: Path) -> list[PreferenceRow]:
    raw = path.read_bytes()
    rows: list[PreferenceRow] = []
    for line_number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        location = f"line {line_number}"
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PreferenceDataError(
                str(path), location,
                f"not valid UTF-8 (byte {error.start}); re-export the file as UTF-8",
            ) from None
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PreferenceDataError(
                str(path), location, f"invalid JSON ({error.msg} at column {error.colno})"
            ) from None
        rows.append(preference_row_from_record(record, source=str(path), location=location,
                                               default_row_id=f"line-{line_number}"))
    if not rows:
        raise PreferenceDataError(str(path), "whole file", "no preference rows found")
    _check_unique_row_ids(rows, str(path))
    return rows


def _rows_from_dataset_folder(path: Path) -> list[PreferenceRow]:
    import datasets  # heavy: only for folders

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise PreferenceDataError(
            str(path), "folder", f"not a `datasets` folder written by save_to_disk ({error})"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise PreferenceDataError(
                str(path), "folder", f"a DatasetDict needs a 'train' split; found {sorted(loaded)}"
            )
        loaded = loaded["train"]
    rows = [
        preference_row_from_record(record, source=str(path), location=f"row {index}",
                                   default_row_id=f"row-{index}")
        for index, record in enumerate(loaded)
    ]
    if not rows:
        raise PreferenceDataError(str(path), "whole dataset", "no preference rows found")
    _check_unique_row_ids(rows, str(path))
    return rows


def _check_unique_row_ids(rows: Sequence[PreferenceRow], source: str) -> None:
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row.row_id in seen:
            raise PreferenceDataError(
                source, f"row {index + 1}",
                f"row_id {row.row_id!r} repeats row {seen[row.row_id] + 1}; row ids must be unique",
                field="row_id",
            )
        seen[row.row_id] = index


def preference_row_from_record(
    record: Any, *, source: str = "<record>", location: str = "row", default_row_id: str = ""
) -> PreferenceRow:
    """Normalise one JSON object (any accepted format) into a `PreferenceRow`, or raise `PreferenceDataError`."""
    if not isinstance(record, dict):
        raise PreferenceDataError(source, location, f"expected a JSON object, got {type(record).__name__}")

    def fail(field: str, problem: str) -> PreferenceDataError:
        return PreferenceDataError(source, location, problem, field=field)

    for field in ("chosen", "rejected"):
        if field not in record or record[field] is None:
            raise fail(field, "missing; every row needs 'chosen' and 'rejected'")
    for field in ("prompt", "chosen", "rejected"):
        if record.get(field) == []:
            raise fail(field, "an empty list of messages; give messages, or a string")
    if isinstance(record.get("prompt"), str) and not record["prompt"].strip():
        raise fail("prompt", "empty; leave 'prompt' out for an implicit prompt")
    chosen, rejected, prompt = record["chosen"], record["rejected"], record.get("prompt")

    if _is_conversation(chosen) or _is_conversation(rejected) or _is_conversation(prompt):
        prompt, chosen, rejected = _conversation_texts(prompt, chosen, rejected, fail)
    else:
        for field, value in (("chosen", chosen), ("rejected", rejected)):
            if not isinstance(value, str):
                raise fail(field, f"expected a string or a list of messages, got {type(value).__name__}")
        if prompt is None:
            prompt, chosen, rejected = implicit_prompt_split(chosen, rejected)
        elif not isinstance(prompt, str):
            raise fail("prompt", f"expected a string, got {type(prompt).__name__}")

    problem = preference_pair_problem(prompt, chosen, rejected)
    if problem is not None:
        raise fail(*problem)
    return PreferenceRow(
        row_id=_row_id(record, default_row_id, fail),
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        margin=_margin(record, fail),
        **_judgment_links(record, fail),
    )


def _row_id(record: _Record, default: str, fail: _Fail) -> str:
    value = record.get("row_id")
    if value is None:
        if not default:
            raise fail("row_id", "missing and no default given")
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise fail("row_id", f"expected a string, got {type(value).__name__}")
    value = str(value)
    if not value.strip():
        raise fail("row_id", "empty")
    return value


def _margin(record: _Record, fail: _Fail) -> float | None:
    value = record.get("margin")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail("margin", f"expected a finite number, got {value!r}")
    return float(value)


def _judgment_links(record: _Record, fail: _Fail) -> _JudgmentLinks:
    judgment_ids = record.get("judgment_ids") or []
    contributor_ids = record.get("contributor_ids") or []
    if not isinstance(judgment_ids, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in judgment_ids
    ):
        raise fail("judgment_ids", "expected a list of integers")
    if not isinstance(contributor_ids, list) or not all(isinstance(item, str) for item in contributor_ids):
        raise fail("contributor_ids", "expected a list of strings")
    if contributor_ids and len(contributor_ids) != len(judgment_ids):
        raise fail(
            "contributor_ids",
            f"has {len(contributor_ids)} entries but judgment_ids has {len(judgment_ids)}; they are parallel lists",
        )
    return {"judgment_ids": tuple(judgment_ids), "contributor_ids": tuple(contributor_ids)}


# ---------------------------------------------------------------- implicit prompts and conversations


def implicit_prompt_split(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two whole texts that share a prompt into (prompt, chosen reply, rejected reply).

    HH-RLHF dialogues: the prompt is the common prefix up to and including the last `\\n\\nAssistant:`, so the
    replies start with their leading space. Other texts: the common prefix cut back to a whitespace boundary,
    so no word is split between prompt and reply.
    """
    common = common_prefix_length(chosen, rejected)
    shared = chosen[:common]
    assistant_at = shared.rfind(HH_ASSISTANT_TURN)
    if assistant_at >= 0:
        cut = assistant_at + len(HH_ASSISTANT_TURN)
    else:
        cut = common
        if cut < min(len(chosen), len(rejected)):
            cut = max(shared.rfind(" "), shared.rfind("\n")) + 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def common_prefix_length(first: Sequence[object], second: Sequence[object]) -> int:
    """How many leading items (characters, token ids, messages) two sequences share."""
    limit = min(len(first), len(second))
    index = 0
    while index < limit and first[index] == second[index]:
        index += 1
    return index


def _is_conversation(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value) and bool(value)


def _conversation_texts(prompt: Any, chosen: Any, rejected: Any, fail: _Fail) -> tuple[str, str, str]:
    for field, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if value is None and field == "prompt":
            continue
        if not _is_conversation(value):
            raise fail(field, "mixes conversational and plain-text formats; use lists of messages throughout")
        for index, message in enumerate(value):
            if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
                raise fail(field, f"message {index} needs string 'role' and 'content'")
    if prompt is None:
        shared = common_prefix_length(chosen, rejected)
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    return (
        conversation_prompt_text(prompt),
        _reply_text(chosen),
        _reply_text(rejected),
    )


def conversation_prompt_text(messages: Sequence[Mapping[str, str]]) -> str:
    """Render prompt messages as HH-style turns ending in `\\n\\nAssistant:`, ready for a reply."""
    turns = "".join(f"\n\n{_role_name(m['role'])}: {m['content']}" for m in messages)
    return turns + HH_ASSISTANT_TURN


def _reply_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The first reply continues the prompt's `Assistant:` turn; any later turns are rendered in full."""
    if not messages:
        return ""
    first, rest = messages[0], messages[1:]
    return " " + first["content"] + "".join(f"\n\n{_role_name(m['role'])}: {m['content']}" for m in rest)


def _role_name(role: str) -> str:
    return _ROLE_NAMES.get(role.lower(), role.capitalize())


# ---------------------------------------------------------------- split, hash, datasets


def preference_split(
    rows: Sequence[PreferenceRow], *, heldout_fraction: float, seed: int
) -> tuple[list[PreferenceRow], list[PreferenceRow]]:
    """Deterministic (train, held-out) split: rows ranked by sha256(seed, row_id), the first share held out.

    A row's rank depends only on its id and the seed, so adding rows to an export moves few existing rows
    across the split. Both parts keep file order. At least one row is held out when the fraction is > 0.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    if heldout_fraction == 0.0:
        return list(rows), []
    heldout_count = min(len(rows) - 1, max(1, round(len(rows) * heldout_fraction)))
    if heldout_count < 1:
        raise ValueError(f"cannot hold out rows from {len(rows)} row(s); need at least 2")
    ranked = sorted(rows, key=lambda row: hashlib.sha256(f"{seed}:{row.row_id}".encode()).hexdigest())
    heldout_ids = {row.row_id for row in ranked[:heldout_count]}
    train = [row for row in rows if row.row_id not in heldout_ids]
    heldout = [row for row in rows if row.row_id in heldout_ids]
    return train, heldout


def kfold_splits(
    rows: Sequence[PreferenceRow], *, folds: int, seed: int
) -> list[tuple[list[PreferenceRow], list[PreferenceRow]]]:
    """K (train, held-out) pairs covering every row exactly once as held-out, ranked as in `preference_split`."""
    if folds < 2 or folds > len(rows):
        raise ValueError(f"folds must be in [2, {len(rows)}], got {folds}")
    ranked = sorted(rows, key=lambda row: hashlib.sha256(f"{seed}:{row.row_id}".encode()).hexdigest())
    fold_of = {row.row_id: index % folds for index, row in enumerate(ranked)}
    return [
        ([row for row in rows if fold_of[row.row_id] != fold], [row for row in rows if fold_of[row.row_id] == fold])
        for fold in range(folds)
    ]


def data_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def rows_sha256(rows: Iterable[PreferenceRow]) -> str:
    """sha256 of rows given in memory, over their export-format lines (what `rows_write_jsonl` would write)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update((json.dumps(_export_record(row), ensure_ascii=False) + "\n").encode("utf-8"))
    return digest.hexdigest()


def rows_have_margin(rows: Iterable[PreferenceRow]) -> bool:
    return any(row.margin is not None for row in rows)


def rows_to_dataset(rows: Sequence[PreferenceRow], *, with_margin: bool) -> datasets.Dataset:
    """A `datasets.Dataset` in TRL's explicit-prompt preference format, keeping `row_id` for bookkeeping."""
    import datasets

    records = [row.as_trl_record(with_margin=with_margin) for row in rows]
    return datasets.Dataset.from_list(records)


def rows_write_jsonl(rows: Iterable[PreferenceRow], path: str | Path) -> Path:
    """Write rows in the site's export format (the inverse of `preference_rows_load`)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(_export_record(row), ensure_ascii=False) + "\n")
    return path


def _export_record(row: PreferenceRow) -> dict[str, Any]:
    record: dict[str, Any] = {"row_id": row.row_id, "prompt": row.prompt, "chosen": row.chosen,
                              "rejected": row.rejected}
    if row.margin is not None:
        record["margin"] = row.margin
    if row.judgment_ids:
        record["judgment_ids"] = list(row.judgment_ids)
    if row.contributor_ids:
        record["contributor_ids"] = list(row.contributor_ids)
    return record
