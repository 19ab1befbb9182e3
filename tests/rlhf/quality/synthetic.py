"""Small builders shared by the quality tests: true answers and hand-written judgments."""

import numpy as np


def balanced_truth(n_comparisons: int, *, seed: int, tie_share: float = 0.0) -> dict[str, str]:
    """Comparison id -> true answer, a and b equally likely (as when the originally chosen response is placed
    at random as a or b), optionally with some ties."""
    draws = np.random.default_rng([seed, 99]).random(n_comparisons)
    labels = np.where(draws < tie_share, "tie", np.where(draws < tie_share + (1 - tie_share) / 2, "a", "b"))
    return {f"cmp-{index:05d}": str(label) for index, label in enumerate(labels)}


def judgment(comparison_id, annotator_id, choice, *, shown_left="a", time_spent_ms=20_000, strength=2) -> dict:
    return {"comparison_id": comparison_id, "annotator_id": annotator_id, "choice": choice, "strength": strength,
            "shown_left": shown_left, "time_spent_ms": time_spent_ms}
