"""From row scores to judgment and contributor scores: the credit rules, the same for every method.

1. A judgment gave a label to a comparison. The comparison is the prompt with its unordered pair of replies;
   the label is which reply won. A training row is one (comparison, label): its `chosen` won over its
   `rejected`. Its `judgment_ids` gave that label, unless `votes` says otherwise (majority exports list the
   dissenting judgments of a comparison on its row too): +1 agreed (the default), -1 dissented (gave the
   opposite label), 0 gave no preference (tie or both bad) and earns nothing.
2. Credit groups. All judgments that gave the same label to the same comparison form one group, whichever rows
   carry them: rows with identical prompt, chosen and rejected are one group, so the "each" export (one row per
   judgment) and the majority export (one row per comparison) credit people alike.
3. One share per group: the mean score of the group's rows (a dissent counts as a row of the opposite label that
   scores minus its row's score), or, for methods that score judgments themselves (the baselines), the mean of
   its judgments' scores.
4. The share is split equally over the group's judgments. k accounts that give the same comparison the same
   label (honest agreement, a copied answer, a ring of sybils) earn together what one of them would alone, so
   duplicating work earns nothing and splits the original's credit. With `share_duplicates=False` (analysis
   only) a judgment gets its row's score over the row's voting judgments (signed by its vote), or its own score.
5. A contributor's score is the sum of their judgments'. Judgments without a contributor id and rows without
   judgments are reported as `unattributed`.

Only scores within one run are comparable: a method's unit is the change in mean held-out loss (gradient
methods) or a quality score (baselines), and payouts use shares of the positive total, not raw values.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rlhf.attribution.methods import RowScores
from rlhf.data import PreferenceRow

VOTE_VALUES = (-1, 0, 1)


def _digest(*texts: str) -> str:
    # Each text is preceded by its length, so no two different lists of texts hash the same bytes.
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(b"%d:" % len(encoded) + encoded)
    return digest.hexdigest()[:20]


def label_key(prompt: str, winner: str, loser: str) -> str:
    """Names one (comparison, label): the prompt, the reply that won and the one that lost."""
    return _digest("label", prompt, winner, loser)


def comparison_key(row: PreferenceRow) -> tuple[str, str]:
    """(comparison id, label "a" or "b") of a row: the replies in sorted order are a and b."""
    first, second = sorted((row.chosen, row.rejected))
    return _digest("comparison", row.prompt, first, second), "a" if row.chosen == first else "b"


def judgment_votes(rows: Sequence[PreferenceRow], votes: Mapping[int, int] | None) -> dict[int, int]:
    """Every judgment's vote (+1 by default), validated: a judgment id may appear on one row only."""
    votes = dict(votes or {})
    found: dict[int, str] = {}
    result: dict[int, int] = {}
    for row in rows:
        if row.contributor_ids and len(row.contributor_ids) != len(row.judgment_ids):
            raise ValueError(f"row {row.row_id}: contributor_ids and judgment_ids differ in length")
        for judgment_id in row.judgment_ids:
            if judgment_id in found:
                raise ValueError(f"judgment {judgment_id} appears on rows {found[judgment_id]} and {row.row_id}; "
                                 "a judgment may be credited once")
            found[judgment_id] = row.row_id
            vote = votes.get(judgment_id, 1)
            if vote not in VOTE_VALUES:
                raise ValueError(f"vote of judgment {judgment_id} must be -1, 0 or 1, got {vote!r}")
            result[judgment_id] = vote
    unknown = sorted(set(votes) - set(found))
    if unknown:
        raise ValueError(f"votes name judgments that no row carries, e.g. {unknown[:3]}")
    return result


@dataclass(frozen=True)
class Attribution:
    rows: dict[str, float]                         # row id -> score
    row_groups: dict[str, str]                     # row id -> credit group of its label
    judgments: dict[int, float]                    # judgment id -> score
    judgment_contributors: dict[int, str | None]   # judgment id -> contributor (None: unknown)
    contributors: dict[str, float]                 # contributor id -> score
    group_sizes: dict[str, int]                    # credit group -> judgments in it
    unattributed: float

    def totals(self) -> dict[str, float]:
        row_total, contributor_total = sum(self.rows.values()), sum(self.contributors.values())
        return {"rows": row_total, "judgments": sum(self.judgments.values()), "contributors": contributor_total,
                "unattributed": self.unattributed,
                # what shared duplicates and dissent took from the rows' sum (0 when neither occurs)
                "credit_rules_difference": row_total - contributor_total - self.unattributed,
                "credit_groups": len(self.group_sizes),
                "shared_groups": sum(1 for size in self.group_sizes.values() if size > 1)}


def attribution_aggregate(rows: Sequence[PreferenceRow], scores: RowScores, *, share_duplicates: bool = True,
                          votes: Mapping[int, int] | None = None) -> Attribution:
    """Judgment and contributor scores from a method's scores, by the rules in this module's docstring."""
    vote_of = judgment_votes(rows, votes)
    missing = [row.row_id for row in rows if row.row_id not in scores.row_scores]
    if missing:
        raise ValueError(f"the method gave no score for {len(missing)} row(s), e.g. {missing[:3]}")
    judged_directly = scores.judgment_scores is not None
    evidence: dict[str, list[float]] = defaultdict(list)   # credit group -> row scores that stand for it
    members: dict[str, list[int]] = defaultdict(list)      # credit group -> judgments in it
    unshared: dict[int, float] = {}
    contributor_of: dict[int, str | None] = {}
    row_groups: dict[str, str] = {}
    unattributed = 0.0
    for row in rows:
        score = float(scores.row_scores[row.row_id])
        own, opposite = label_key(row.prompt, row.chosen, row.rejected), label_key(row.prompt, row.rejected,
                                                                                   row.chosen)
        row_groups[row.row_id] = own
        voting = [judgment for judgment in row.judgment_ids if vote_of[judgment] != 0]
        if not voting:
            unattributed += score
        evidence[own].append(score)
        for index, judgment in enumerate(row.judgment_ids):
            contributor_of[judgment] = row.contributor_ids[index] if row.contributor_ids else None
            vote = vote_of[judgment]
            if scores.judgment_scores is not None:
                unshared[judgment] = float(scores.judgment_scores.get(judgment, 0.0)) if vote else 0.0
            else:
                unshared[judgment] = vote * score / len(voting) if vote else 0.0
            if vote == 1:
                members[own].append(judgment)
            elif vote == -1:
                members[opposite].append(judgment)
                evidence[opposite].append(-score)
    if share_duplicates:
        judgments = {judgment: 0.0 for judgment in unshared}
        for group, group_members in members.items():
            pool = [unshared[j] for j in group_members] if judged_directly else evidence[group]
            share = sum(pool) / len(pool) / len(group_members)
            for judgment in group_members:
                judgments[judgment] = share
    else:
        judgments = unshared
    contributors: dict[str, float] = defaultdict(float)
    for judgment, value in judgments.items():
        contributor = contributor_of[judgment]
        if contributor is None:
            unattributed += value
        else:
            contributors[contributor] += value
    return Attribution(rows={row.row_id: float(scores.row_scores[row.row_id]) for row in rows},
                       row_groups=row_groups, judgments=judgments, judgment_contributors=contributor_of,
                       contributors=dict(contributors), group_sizes={g: len(m) for g, m in members.items()},
                       unattributed=unattributed)
