"""Judgments as the quality estimators see them, their validation, and the nominal codings.

A judgment is one annotator's verdict on one comparison (responses "a" and "b" of one prompt):

| field           | type        | meaning                                                              |
| --------------- | ----------- | -------------------------------------------------------------------- |
| comparison_id   | str or int  | the comparison judged (reported back as a string)                    |
| annotator_id    | str or int  | the pseudonymous annotator (reported back as a string)               |
| choice          | str         | "a" / "b" (that response is better), "tie", "both_bad"               |
| strength        | int         | 1 (slightly) .. 3 (clearly)                                          |
| shown_left      | str         | "a" or "b": which response the annotator saw on the left             |
| time_spent_ms   | int         | milliseconds between showing the pair and submitting                 |

`choice` always names a response, never a side: "a" means response a won wherever it was shown.

Callers pass `Judgment` objects or plain mappings with these keys. An annotator who judged the same comparison
more than once keeps only the last judgment in input order (an edit is a new revision; the newest counts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias, cast

import numpy as np

from rlhf.arrays import Bools, Ints

CHOICES = ("a", "b", "tie", "both_bad")
SIDES = ("a", "b")
GOLD_LABELS = ("a", "b", "tie")
STRENGTHS = (1, 2, 3)

# Nominal codings: which choices are values of the variable and which are treated as missing.
# The default keeps "tie" as its own category because "these are equally good" is a real answer people can
# agree or disagree on, and drops "both_bad", which says nothing about which response is better (it is a
# signal that the pair should be regenerated, not a preference).
CODINGS: dict[str, tuple[str, ...]] = {
    "a_b_tie": ("a", "b", "tie"),
    "a_b_tie_both_bad": ("a", "b", "tie", "both_bad"),
    "a_b": ("a", "b"),
}
DEFAULT_CODING = "a_b_tie"
CODING_HELP = {
    "a_b_tie": "a, b and tie are three nominal values; both_bad judgments are left out (no preference).",
    "a_b_tie_both_bad": "a, b, tie and both_bad are four nominal values.",
    "a_b": "only a and b count; tie and both_bad judgments are left out (strict preferences only).",
}


# Gold answers, comparison id -> "a" / "b" / "tie": the ids are strings or integers as the judgments' are, and
# each answer is checked where it is read (gold_choice_codes).
GoldAnswers: TypeAlias = Mapping[str, object] | Mapping[int, object]
# A reason for refusing a field (its name, then the problem); it raises.
_Fail: TypeAlias = Callable[[str, str], NoReturn]


class JudgmentError(ValueError):
    """A bad judgment: the message names its position in the input, its ids and the field."""


@dataclass(frozen=True)
class Judgment:
    """One annotator's verdict on one comparison (see the module docstring for the fields)."""

    comparison_id: str
    annotator_id: str
    choice: str
    strength: int
    shown_left: str
    time_spent_ms: int

    def as_record(self) -> dict[str, Any]:
        return {"comparison_id": self.comparison_id, "annotator_id": self.annotator_id, "choice": self.choice,
                "strength": self.strength, "shown_left": self.shown_left, "time_spent_ms": self.time_spent_ms}


@dataclass(frozen=True)
class JudgmentTable:
    """Validated judgments as parallel integer arrays, one entry per judgment; built once, read by every estimator.

    `comparison[i]` indexes `comparison_ids`, `annotator[i]` indexes `annotator_ids` (both sorted), `choice[i]`
    indexes `CHOICES`, `left_is_b[i]` is True when response b was shown on the left.
    """

    comparison_ids: tuple[str, ...]
    annotator_ids: tuple[str, ...]
    comparison: Ints
    annotator: Ints
    choice: Ints
    strength: Ints
    left_is_b: Bools
    time_spent_ms: Ints
    revisions_replaced: int

    @property
    def size(self) -> int:
        return int(self.choice.shape[0])

    def coded(self, coding: str) -> tuple[Bools, Ints]:
        """(mask of judgments the coding keeps, their value index into `CODINGS[coding]`)."""
        categories = coding_categories(coding)
        to_value = np.full(len(CHOICES), -1, dtype=np.int64)
        for value_index, category in enumerate(categories):
            to_value[CHOICES.index(category)] = value_index
        values = to_value[self.choice]
        keep = values >= 0
        return keep, values[keep]


# What the estimators take: judgments as `Judgment`s or plain mappings (validated by judgment_table), or a table.
Judgments: TypeAlias = Iterable[Mapping[str, Any] | Judgment] | JudgmentTable


def coding_categories(coding: str) -> tuple[str, ...]:
    try:
        return CODINGS[coding]
    except KeyError:
        raise ValueError(f"coding {coding!r} is unknown; use one of {', '.join(CODINGS)}") from None


def _identifier(value: Any, field: str, fail: _Fail) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        fail(field, f"must be a string or an integer, got {type(value).__name__} {value!r}")
    text = str(value)
    if not text.strip():
        fail(field, "must not be empty")
    return text


def _member(value: Any, allowed: tuple[object, ...], field: str, fail: _Fail) -> Any:
    if isinstance(value, bool) or value not in allowed:
        fail(field, f"is {value!r}; expected one of {', '.join(map(repr, allowed))}")
    return value


def judgment_from_record(record: Mapping[str, Any] | Judgment, *, position: int | str = "?") -> Judgment:
    """Validate one judgment (a `Judgment` or a mapping); raise `JudgmentError` naming position, ids and field."""
    if isinstance(record, Judgment):
        record = record.as_record()
    if not isinstance(record, Mapping):
        raise JudgmentError(f"judgment {position}: expected a mapping with judgment fields, got "
                            f"{type(record).__name__}")

    def fail(field: str, problem: str) -> NoReturn:
        ids = f" (comparison {record.get('comparison_id')!r}, annotator {record.get('annotator_id')!r})"
        raise JudgmentError(f"judgment {position}{ids}, field '{field}': {problem}")

    for field in ("comparison_id", "annotator_id", "choice", "strength", "shown_left", "time_spent_ms"):
        if field not in record:
            fail(field, "is missing")
    time_spent = record["time_spent_ms"]
    if isinstance(time_spent, bool) or not isinstance(time_spent, int | np.integer) or time_spent < 0:
        fail("time_spent_ms", f"must be a non-negative integer of milliseconds, got {time_spent!r}")
    return Judgment(
        comparison_id=_identifier(record["comparison_id"], "comparison_id", fail),
        annotator_id=_identifier(record["annotator_id"], "annotator_id", fail),
        choice=_member(record["choice"], CHOICES, "choice", fail),
        strength=int(_member(record["strength"], STRENGTHS, "strength", fail)),
        shown_left=_member(record["shown_left"], SIDES, "shown_left", fail),
        time_spent_ms=int(time_spent),
    )


_CHOICE_INDEX = {choice: index for index, choice in enumerate(CHOICES)}
# One judgment's columns: comparison id, annotator id, choice index, strength, b shown left, time spent (ms).
_Row: TypeAlias = tuple[str, str, int, int, bool, int]


def _plainly_valid_row(record: Mapping[str, Any] | Judgment) -> _Row | None:
    """The judgment's fields when it is a valid judgment of plain types (the common case), else None."""
    fields = record.__dict__ if isinstance(record, Judgment) else record
    try:
        comparison, annotator = fields["comparison_id"], fields["annotator_id"]
        choice, strength = fields["choice"], fields["strength"]
        shown_left, time_spent = fields["shown_left"], fields["time_spent_ms"]
    except (KeyError, TypeError, IndexError):
        return None
    if (type(comparison) is str and type(annotator) is str and comparison.strip() and annotator.strip()
            and type(choice) is str and choice in _CHOICE_INDEX and type(strength) is int and strength in STRENGTHS
            and (shown_left == "a" or shown_left == "b") and type(time_spent) is int and time_spent >= 0):
        return comparison, annotator, _CHOICE_INDEX[choice], strength, shown_left == "b", time_spent
    return None


def judgment_table(judgments: Judgments) -> JudgmentTable:
    """Validate judgments and encode them; a `JudgmentTable` passes through unchanged."""
    if isinstance(judgments, JudgmentTable):
        return judgments
    rows = []
    for position, record in enumerate(judgments):
        row = _plainly_valid_row(record)
        if row is None:
            # Raises with the exact problem, or accepts what the quick check does not know (int ids, numpy ints).
            judgment = judgment_from_record(record, position=position)
            row = (judgment.comparison_id, judgment.annotator_id, _CHOICE_INDEX[judgment.choice], judgment.strength,
                   judgment.shown_left == "b", judgment.time_spent_ms)
        rows.append(row)
    comparisons, annotators, choices, strengths, left_is_b, times = zip(*rows, strict=True) if rows else ((),) * 6
    comparison_ids, comparison = np.unique(np.array(comparisons, dtype=str), return_inverse=True)
    annotator_ids, annotator = np.unique(np.array(annotators, dtype=str), return_inverse=True)
    columns = {
        "comparison": comparison.astype(np.int64),
        "annotator": annotator.astype(np.int64),
        "choice": np.array(choices, dtype=np.int64),
        "strength": np.array(strengths, dtype=np.int64),
        "left_is_b": np.array(left_is_b, dtype=bool),
        "time_spent_ms": np.array(times, dtype=np.int64),
    }
    keep = _last_revision_positions(columns["comparison"], columns["annotator"], len(annotator_ids))
    return JudgmentTable(
        comparison_ids=tuple(str(x) for x in comparison_ids),
        annotator_ids=tuple(str(x) for x in annotator_ids),
        revisions_replaced=len(rows) - int(keep.shape[0]),
        **{name: column[keep] for name, column in columns.items()},
    )


def _last_revision_positions(comparison: Ints, annotator: Ints,
                             n_annotators: int) -> Ints:
    """Positions (in input order) of each annotator's last judgment of each comparison."""
    if comparison.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    key = comparison * max(n_annotators, 1) + annotator
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    return np.sort(key.shape[0] - 1 - first_in_reversed)


def gold_choice_codes(table: JudgmentTable, gold: GoldAnswers | None) -> Ints:
    """Per comparison of the table, the index in `CHOICES` of its gold answer, or -1 where it has none.

    Gold is a mapping comparison id -> "a" / "b" / "tie"; gold for comparisons nobody judged is ignored. A gold
    answer outside a / b / tie is an error naming the comparison.
    """
    codes = np.full(len(table.comparison_ids), -1, dtype=np.int64)
    if not gold:
        return codes
    if not isinstance(cast(object, gold), Mapping):
        raise ValueError(f"gold must be a mapping of comparison id -> answer, got {type(gold).__name__}")
    position = {comparison_id: index for index, comparison_id in enumerate(table.comparison_ids)}
    for comparison_id, answer in gold.items():
        if isinstance(answer, bool) or answer not in GOLD_LABELS:
            raise ValueError(f"gold answer for comparison {comparison_id!r} is {answer!r}; expected one of "
                             f"{', '.join(map(repr, GOLD_LABELS))}")
        index = position.get(str(comparison_id))
        if index is not None:
            codes[index] = CHOICES.index(answer)
    return codes
