"""Baselines with no gradients: they read who said what and never look at the model.

- agreement: a judgment scores +1 when it agrees with its comparison's consensus (the label most of the
  comparison's judgments gave, its own included), -1 when it disagrees, 0 on a tie or when nobody else judged
  the comparison (no overlap, no evidence).
- reliability: a judgment scores 2r - 1, r being its author's Dawid-Skene reliability (rlhf.quality, coding
  a/b): +1 for a perfect annotator, 0 for a coin, -1 for one who always answers the opposite; 0 when r cannot be
  estimated (nobody shares a comparison with them).

Both need overlap (k >= 2 judgments per comparison); with k = 1 they say nothing, which is the point of
comparing them with the gradient methods. A row scores the sum of its judgments; the credit rules of
rlhf.attribution.aggregate (duplicates share) then apply as for every method.

Labels come from the rows: a row's judgments gave its label, unless `votes` says a judgment dissented (-1) or
gave no preference (0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rlhf.attribution.aggregate import comparison_key, judgment_votes
from rlhf.attribution.methods import AttributionSettings, RowScores, method_register
from rlhf.data import PreferenceRow
from rlhf.runs import RUN_KINDS

OPPOSITE = {"a": "b", "b": "a"}


def judgment_labels(rows: Sequence[PreferenceRow],
                    votes: Mapping[int, int] | None = None) -> list[tuple[int, str | None, str, str | None]]:
    """(judgment id, contributor or None, comparison id, label "a"/"b" or None for no preference), per judgment."""
    vote_of = judgment_votes(rows, votes)
    labels = []
    for row in rows:
        comparison, label = comparison_key(row)
        for index, judgment in enumerate(row.judgment_ids):
            contributor = row.contributor_ids[index] if row.contributor_ids else None
            vote = vote_of[judgment]
            labels.append((judgment, contributor, comparison,
                           label if vote == 1 else OPPOSITE[label] if vote == -1 else None))
    return labels


def _row_sums(rows: Sequence[PreferenceRow], judgment_scores: dict[int, float]) -> dict[str, float]:
    return {row.row_id: sum(judgment_scores.get(judgment, 0.0) for judgment in row.judgment_ids) for row in rows}


class _Baseline:
    model_kinds: tuple[str, ...] = RUN_KINDS
    uses_model = False
    reads_votes = True
    name = ""
    help = ""


class Agreement(_Baseline):
    name = "agreement"
    help = "agreement of each judgment with its comparison's consensus label, +1 / -1 / 0 (no model)"

    def score(self, model_dir: str | Path, train_rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow],
              settings: AttributionSettings, *, votes: Mapping[int, int] | None = None) -> RowScores:
        labels = judgment_labels(train_rows, votes)
        counts = Counter((comparison, label) for _, _, comparison, label in labels if label is not None)
        scores: dict[int, float] = {}
        alone = 0
        for judgment, _, comparison, label in labels:
            if label is None:
                scores[judgment] = 0.0
                continue
            agreeing, disagreeing = counts[comparison, label], counts[comparison, OPPOSITE[label]]
            alone += agreeing + disagreeing == 1
            scores[judgment] = 0.0 if agreeing + disagreeing == 1 else float(np.sign(agreeing - disagreeing))
        return RowScores(_row_sums(train_rows, scores), judgment_scores=scores,
                         details={"judgments": len(labels), "judgments_without_others": alone})


class Reliability(_Baseline):
    name = "reliability"
    help = "Dawid-Skene reliability r of each judgment's author, as 2r - 1 (no model)"

    def score(self, model_dir: str | Path, train_rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow],
              settings: AttributionSettings, *, votes: Mapping[int, int] | None = None) -> RowScores:
        from rlhf.quality.dawid_skene import dawid_skene_estimate

        labels = judgment_labels(train_rows, votes)
        records = [{"comparison_id": comparison, "annotator_id": contributor, "choice": label, "strength": 1,
                    "shown_left": "a", "time_spent_ms": 0}
                   for _, contributor, comparison, label in labels if contributor is not None and label is not None]
        estimate = dawid_skene_estimate(records, coding="a_b") if records else None
        reliability = {annotator: result.reliability
                       for annotator, result in (estimate.annotators.items() if estimate else ())}
        scores = {judgment: 2.0 * value - 1.0
                  if label is not None and contributor is not None
                  and (value := reliability.get(contributor)) is not None else 0.0
                  for judgment, contributor, _, label in labels}
        details = {"contributors": len(reliability),
                   "unidentifiable_contributors": sum(value is None for value in reliability.values()),
                   "iterations": estimate.iterations if estimate else 0,
                   "converged": estimate.converged if estimate else True}
        return RowScores(_row_sums(train_rows, scores), judgment_scores=scores, details=details)


for _method in (Agreement(), Reliability()):
    method_register(_method)
