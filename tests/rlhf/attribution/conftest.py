"""Fixtures for the attribution tests: judged copies of the marker preference, with honest and flipping people."""

from __future__ import annotations

from rlhf.attribution.validation import Comparison, each_export_rows
from rlhf.data import PreferenceRow
from rlhf.quality.judgments import Judgment
from rlhf.quality.population import assignment_plan
from rlhf.tiny import marker_preference_rows

HONEST = tuple(f"honest-{index}" for index in range(5))
FLIPPERS = ("flip-0", "flip-1")


def judged_marker_rows(count: int, *, seed: int, overlap: int = 3) -> list[PreferenceRow]:
    """`count` marker comparisons, each judged by `overlap` of five honest people and two who flip every label,
    exported one row per judgment (the site's "each" export)."""
    comparisons = [Comparison(row.row_id, row.prompt, row.chosen, row.rejected)   # a: the reply with the marker
                   for row in marker_preference_rows(count, seed=seed)]
    plan = assignment_plan([c.comparison_id for c in comparisons], HONEST + FLIPPERS, overlap=overlap, seed=seed)
    judgments = [Judgment(comparison_id, person, "b" if person in FLIPPERS else "a", 2, "a", 1000)
                 for comparison_id, group in plan for person in group]
    return each_export_rows(comparisons, judgments)


def assert_flippers_negative_and_honest_positive(contributors: dict[str, float], method: str) -> None:
    assert set(contributors) == set(HONEST + FLIPPERS), method
    for person in FLIPPERS:
        assert contributors[person] < 0, (method, contributors)
    for person in HONEST:
        assert contributors[person] > 0, (method, contributors)
