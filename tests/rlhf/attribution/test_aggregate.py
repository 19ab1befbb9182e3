"""The credit rules: rows -> judgments -> contributors, duplicates share one credit, dissent counts against."""

from __future__ import annotations

import pytest

from rlhf.attribution.aggregate import attribution_aggregate, comparison_key
from rlhf.attribution.methods import RowScores
from rlhf.data import PreferenceRow


def row(row_id, judgments, contributors, *, chosen="good", rejected="bad", prompt="p"):
    return PreferenceRow(row_id, prompt, chosen, rejected, judgment_ids=tuple(judgments),
                         contributor_ids=tuple(contributors))


def test_distinct_rows_pass_their_scores_through_unchanged():
    rows = [row("r1", [1], ["ann"], chosen="x"), row("r2", [2], ["bob"], chosen="y"),
            row("r3", [3], ["ann"], chosen="z")]
    result = attribution_aggregate(rows, RowScores({"r1": 0.5, "r2": -0.25, "r3": 0.125}))
    assert result.judgments == {1: 0.5, 2: -0.25, 3: 0.125}
    assert result.contributors == {"ann": 0.625, "bob": -0.25}
    assert result.totals()["credit_rules_difference"] == 0


def test_identical_rows_from_several_people_share_one_credit():
    # Three accounts give the same comparison the same label: together they earn one row's worth.
    rows = [row("r1", [1], ["ann"]), row("r2", [2], ["sybil-1"]), row("r3", [3], ["sybil-2"]),
            row("other", [4], ["ann"], chosen="else")]
    scores = RowScores({"r1": 0.3, "r2": 0.3, "r3": 0.3, "other": 0.2})
    shared = attribution_aggregate(rows, scores)
    assert shared.contributors["ann"] == pytest.approx(0.1 + 0.2)
    assert shared.contributors["sybil-1"] == pytest.approx(0.1)
    ring_total = sum(value for who, value in shared.contributors.items() if who != "ann") + 0.1
    assert ring_total == pytest.approx(0.3)   # copying earned the ring nothing beyond the one original
    assert shared.group_sizes[shared.row_groups["r1"]] == 3
    unshared = attribution_aggregate(rows, scores, share_duplicates=False)
    assert unshared.contributors == pytest.approx({"ann": 0.5, "sybil-1": 0.3, "sybil-2": 0.3})


def test_majority_and_each_exports_of_the_same_judgments_credit_people_alike():
    def content_score(preference: PreferenceRow) -> float:   # any score that depends on the row's content
        return 0.7 if preference.chosen == "good" else -0.4

    each = [row("j1", [1], ["ann"]), row("j2", [2], ["bob"]), row("j3", [3], ["cat"], chosen="bad",
                                                                       rejected="good")]
    majority = [row("cmp", [1, 2, 3], ["ann", "bob", "cat"])]
    votes = {1: 1, 2: 1, 3: -1}
    from_each = attribution_aggregate(each, RowScores({r.row_id: content_score(r) for r in each}))
    from_majority = attribution_aggregate(majority, RowScores({"cmp": content_score(majority[0])}), votes=votes)
    assert from_each.contributors["ann"] == pytest.approx(0.35)
    assert from_majority.contributors["ann"] == pytest.approx(0.35)
    assert from_each.contributors["cat"] == pytest.approx(-0.4)
    # In the majority export the dissent is scored as minus its row: the opposite label's effect.
    assert from_majority.contributors["cat"] == pytest.approx(-0.7)


def test_no_preference_votes_earn_nothing_and_rows_without_people_are_unattributed():
    rows = [row("cmp", [1, 2], ["ann", "bob"]), PreferenceRow("anon", "p", "a", "b")]
    result = attribution_aggregate(rows, RowScores({"cmp": 0.6, "anon": 0.1}), votes={2: 0})
    assert result.contributors == pytest.approx({"ann": 0.6, "bob": 0.0})
    assert result.unattributed == pytest.approx(0.1)
    assert result.totals()["credit_rules_difference"] == pytest.approx(0.0)


def test_judgment_level_scores_are_shared_within_a_group():
    rows = [row("r1", [1], ["ann"]), row("r2", [2], ["bob"]), row("r3", [3], ["cat"], chosen="x")]
    scores = RowScores({"r1": 1.0, "r2": 0.5, "r3": -1.0}, judgment_scores={1: 1.0, 2: 0.5, 3: -1.0})
    result = attribution_aggregate(rows, scores)
    assert result.judgments == pytest.approx({1: 0.375, 2: 0.375, 3: -1.0})


@pytest.mark.parametrize("rows, scores, votes, message", [
    ([row("r1", [1], ["a"]), row("r2", [1], ["b"], chosen="x")], {"r1": 0, "r2": 0}, None, "appears on rows"),
    ([row("r1", [1], ["a"])], {}, None, "no score for 1 row"),
    ([row("r1", [1], ["a"])], {"r1": 0}, {1: 2}, "must be -1, 0 or 1"),
    ([row("r1", [1], ["a"])], {"r1": 0}, {9: 1}, "no row carries"),
])
def test_inconsistent_inputs_are_refused(rows, scores, votes, message):
    with pytest.raises(ValueError, match=message):
        attribution_aggregate(rows, RowScores(scores), votes=votes)


def test_comparison_key_ignores_which_reply_won():
    first, second = row("r1", [1], ["a"], chosen="x", rejected="y"), row("r2", [2], ["b"], chosen="y", rejected="x")
    (key_one, label_one), (key_two, label_two) = comparison_key(first), comparison_key(second)
    assert key_one == key_two and {label_one, label_two} == {"a", "b"}
