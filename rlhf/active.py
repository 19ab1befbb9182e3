"""Which comparison to ask people about next: the assignment strategies of a Datanet.

Each human judgment costs money, so the queue can serve first the comparisons that the current reward model is
least sure of. The rule is written here once and read by the site's judging path (which stores each comparison's
`uncertainty` and draws the strategy of every request) and by `benchmarks/bench_active_selection.py`:

- `random`: no model chooses. Comparisons are served in the order of their `shuffle_key`, a uniform number fixed
  by the comparison's content (`shuffle_key`), so the order is random yet the same on every run and database.
- `uncertainty`: a request is served the open comparison with the highest `pair_uncertainty` under the Datanet's
  scoring reward model, except that a share `random_share` of requests (drawn per request, `strategy_drawn`) is
  served as under `random`: those judgments stay an unbiased sample, for held-out evaluation of the model that
  the uncertain ones train. A comparison not scored yet counts as the most uncertain (nothing is known of it).

Least-judged comparisons still come first under either strategy (k judgments per comparison is the Datanet's
contract); the strategy orders comparisons of equal judgment count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

RANDOM = "random"
UNCERTAINTY = "uncertainty"
STRATEGY_HELP = {
    RANDOM: "serve comparisons in a random order fixed by their content; no model chooses",
    UNCERTAINTY: "serve first the comparisons the Datanet's scoring reward model is least sure of, keeping a "
                 "random share of requests random for unbiased evaluation",
}
STRATEGIES = tuple(STRATEGY_HELP)
DEFAULT_RANDOM_SHARE = 0.2


def pair_uncertainty(margins: Sequence[float] | np.ndarray) -> np.ndarray:
    """How unsure a Bradley-Terry reward model is of a comparison, from its score margin r(a) - r(b): 1 - |2p - 1|
    with p = sigmoid(margin) the model's probability that a is preferred. 1 at a coin flip, towards 0 when sure
    either way; the order it gives is the order of |margin| reversed, so the scale of the scores does not matter."""
    margins = np.asarray(margins, dtype=np.float64)
    # 1 - |2 sigmoid(m) - 1| = 2 sigmoid(-|m|), computed without overflow; unlike 1 - |tanh(m / 2)|, which rounds
    # to 0 beyond |m| ~ 37, it keeps the order of sure pairs up to |m| ~ 700.
    with np.errstate(invalid="ignore"):  # a NaN margin (not scored) stays NaN, which is no error
        uncertainty: np.ndarray = 2.0 * np.exp(-np.logaddexp(0.0, np.abs(margins)))
    return uncertainty


def strategy_drawn(strategy: str, *, random_share: float, draw: float) -> str:
    """The strategy one request is served by, from the Datanet's setting and the request's uniform draw in [0, 1)
    (twin: annotation_strategy_drawn in SQL)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"assignment_strategy: must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    if not 0.0 <= random_share <= 1.0:
        raise ValueError(f"random_share: must be between 0 and 1 (got {random_share!r})")
    if strategy == UNCERTAINTY and draw >= random_share:
        return UNCERTAINTY
    return RANDOM


def shuffle_key(*texts: str) -> float:
    """A uniform number in [0, 1) fixed by a comparison's texts (prompt, reply a, reply b): its place in the random
    order. A hash and not a random draw, so that the order is reproducible without a seed being carried along."""
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def next_pick(strategy: str, *, open_mask: np.ndarray, keys: np.ndarray, uncertainty: np.ndarray) -> int:
    """Index of the comparison a request drawn as `strategy` is served among `open_mask`: the lowest shuffle key
    under `random`, the highest uncertainty (ties by shuffle key; NaN, not scored, first) under `uncertainty`.
    The judging path orders its SQL and ORM queries the same way; the benchmark calls this. Raises ValueError when
    nothing is open."""
    if not len(open_mask) == len(keys) == len(uncertainty):
        raise ValueError(f"open_mask, keys and uncertainty must be one entry per comparison, got lengths "
                         f"{len(open_mask)}, {len(keys)} and {len(uncertainty)}")
    candidates = np.flatnonzero(open_mask)
    if candidates.size == 0:
        raise ValueError("no comparison is open")
    if strategy == UNCERTAINTY:
        values = np.where(np.isnan(uncertainty[candidates]), np.inf, uncertainty[candidates])
        order = np.lexsort((keys[candidates], -values))
    else:
        order = np.argsort(keys[candidates], kind="stable")
    return int(candidates[order[0]])
