"""The arithmetic every gradient method ends in, on plain numpy arrays (no model, no torch).

Conventions, shared by all methods so that their scores are comparable:

- `train_gradients` (n, D): each training row's loss gradient at the model's parameters (or a projection).
- `eval_gradient` (D,): the gradient of the MEAN held-out loss.
- A score is the first-order change in the mean held-out loss when the row is removed from training:
  positive means the row helped. Training minimises the mean loss over n rows, so removing row i moves the
  parameters by about +(1/n) H^-1 g_i, and the held-out loss by (1/n) g_eval^T H^-1 g_i.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GradientBlock:
    """A contiguous slice of a gradient vector that belongs to one parameter tensor (a DataInf "layer")."""

    name: str
    start: int
    stop: int
    parameters: int   # entries of the parameter tensor before any projection

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "stop": self.stop, "parameters": self.parameters}


def exact_influence_scores(train_gradients: np.ndarray, eval_gradient: np.ndarray,
                           hessian: np.ndarray) -> np.ndarray:
    """(1/n) g_eval^T H^-1 g_i for every row, with one linear solve (H symmetric positive definite)."""
    from scipy.linalg import cho_factor, cho_solve

    direction = cho_solve(cho_factor(hessian), eval_gradient)
    scores: np.ndarray = train_gradients @ direction / len(train_gradients)
    return scores


def datainf_scores(train_gradients: np.ndarray, eval_gradient: np.ndarray, blocks: Sequence[GradientBlock], *,
                   damping: float, extra_damping: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """DataInf (Kwon et al., ICLR 2024): per block, the inverse of the damped empirical Fisher is replaced by the
    mean of rank-one inverses, which Sherman-Morrison gives in closed form:

        (1/n sum_i g_i g_i^T + lambda I)^-1 v  ~  1/(n lambda) sum_i (v - g_i (g_i . v) / (lambda + |g_i|^2))

    lambda of a block = damping x the mean squared gradient entry over training rows (DataInf's choice, with
    damping 0.1), plus `extra_damping` (the linear head's own L2). Cost O(n D): no matrix is formed.
    Returns (scores, lambda of each block).
    """
    n = len(train_gradients)
    scores = np.zeros(n)
    lambdas = []
    for block in blocks:
        gradients = train_gradients[:, block.start:block.stop].astype(np.float64)
        target = eval_gradient[block.start:block.stop].astype(np.float64)
        squared_norms = np.einsum("ij,ij->i", gradients, gradients)
        # Mean squared entry of the unprojected tensor: a count sketch keeps norms, so divide by the true size.
        damping_value = damping * float(squared_norms.mean()) / block.parameters + extra_damping
        damping_value = max(damping_value, 1e-12)
        lambdas.append(damping_value)
        along = gradients @ target / (damping_value + squared_norms)
        inverse_times_target = (n * target - along @ gradients) / (n * damping_value)
        scores += gradients @ inverse_times_target
    return scores / n, lambdas


def spearman(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import spearmanr

    left, right = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if len(left) < 2 or np.ptp(left) == 0 or np.ptp(right) == 0:
        return float("nan")
    return float(spearmanr(left, right).statistic)


def roc_auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting one half (the Mann-Whitney form of ROC AUC)."""
    positive = np.asarray(positive_scores, dtype=np.float64)
    negative = np.asarray(negative_scores, dtype=np.float64)
    if positive.size == 0 or negative.size == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).sum()
    equal = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * equal) / (positive.size * negative.size))
