"""Measured figures live in benchmarks/RESULTS.md beside the command that measured them; docstrings and help
strings say the contract and why. This scan fails on a docstring or help string of rlhf/, simulator/ or
feedback_site/ that states a measurement: a time or size that something took, a before -> after, a speed-up,
a throughput, a measured mean +- sd or an "about 0.63" accuracy. Contracts read differently ("default 0.1",
"a 12-month cliff", "3500 = 0.35x", "under 2 s" as a target) and pass."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rlhf", "simulator", "feedback_site")

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_UNIT = r"(?:ms|µs|us|s|seconds|minutes|h|hours|KB|kB|KiB|MB|MiB|GB|GiB)"
MEASURED = re.compile("|".join(f"(?:{pattern})" for pattern in (
    rf"(?:~|≈|about |roughly |took |takes |measured (?:at |in )?){_NUMBER}\s?{_UNIT}\b",  # "took 3.4 s", "~100 ms"
    rf"{_NUMBER}\s?{_UNIT}?\s*(?:->|→)\s*{_NUMBER}\s?{_UNIT}\b",                      # "4.9 -> 3.4 s"
    rf"{_NUMBER}\s?(?:x|×|times|%)\s+(?:faster|slower|quicker|smaller|larger|less|fewer|more)\b",  # "20% slower"
    rf"{_NUMBER}\s?(?:judgments|rows|requests|pairs|comparisons|entries|payouts)/s\b",   # "250 judgments/s"
    r"\b0\.\d\d+\s*(?:\+-|±)\s*0\.\d+",                                                   # "0.87 +- 0.07"
    r"(?:accuracy|AUC|correlation|Spearman)\s+(?:of\s+|is\s+|was\s+)?(?:about\s+|~)?0\.\d\d",  # "accuracy 0.63"
    r"\babout 0\.\d\d",                                                                   # "about 0.60 of the time"
)), re.IGNORECASE)


def _text(node: ast.AST) -> str:
    """The literal text of a string, an f-string or an implicit concatenation of both."""
    return "".join(part.value for part in ast.walk(node) if isinstance(part, ast.Constant) and isinstance(part.value, str))


def docstrings_and_help(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every docstring and every help string (help=, help_text=, and the help of rlhf's
    `setting` and the simulator's `param`) in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                yield node.body[0].lineno, docstring
        if isinstance(node, ast.Call):
            values = [keyword.value for keyword in node.keywords if keyword.arg in ("help", "help_text")]
            if getattr(node.func, "id", None) in ("setting", "param"):
                values += [arg for arg in node.args if isinstance(arg, ast.Constant | ast.JoinedStr | ast.BinOp)]
            for value in values:
                if _text(value):
                    yield value.lineno, _text(value)


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                  if "migrations" not in path.parts)


def test_no_docstring_or_help_string_states_a_measured_figure():
    found = [f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}"
             for path in modules() for line, text in docstrings_and_help(path) for match in MEASURED.finditer(text)]
    assert not found, "measured figures belong in benchmarks/RESULTS.md with their command:\n" + "\n".join(found)


@pytest.mark.parametrize("text", [
    "Recompute activations: less memory, about 20% slower.",
    "(4.9 -> 3.4 s at a million contributors)",
    "the assignment query takes ~100 ms",
    "serves 250 judgments/s on 2 cores",
    "AUC 0.87 +- 0.07 at k = 3",
    "cross-validated accuracy 0.63 against 0.60",
    "predicts the recorded choice about 0.60 of the time",
    "the vectorized engine is 25x faster than the reference",
])
def test_the_scan_flags_a_measurement(text):
    assert MEASURED.search(text)


@pytest.mark.parametrize("text", [
    "Strength of the pull towards the reference (default 0.1).",
    "team and investors unlock after a 12-month cliff over 36 months",
    "in basis points (3500 = 0.35x); a flagged contributor earns nothing",
    "Total rewards are at most this multiple of the fees (30000 = 3x fees).",
    "Target: under 2 s for each policy.",
    "0.3 = demand -70%; 0.2 = price -80%.",
    "A swap fee (default 0.3%) stays in the pool.",
    "Under a randomised order this is about 50%.",
    "with noise 0.25-0.30 it stands for a published reward model (0.69-0.75 accuracy in the literature)",
])
def test_the_scan_passes_a_contract(text):
    assert not MEASURED.search(text)
