"""Attribution for the linear Bradley-Terry head (rlhf.linear_head): exact influence, TracIn, DataInf.

The head minimises J(w) = mean_i softplus(-(w . d_i - m_i)) + (l2/2)|w|^2 over embedding differences d_i, so
everything here is closed form on numpy arrays, and the encoder's embeddings come from the run's cache.

- influence-exact: (1/n) g_eval^T H^-1 g_i with H the exact Hessian of J at the fitted weights. This is the
  ground truth the approximate methods are checked against on this model.
- tracin: the head is fitted by damped Newton steps from w = 0, w_{t+1} = w_t - a_t H_t^-1 grad J(w_t). Row
  i's part of step t is -a_t H_t^-1 g_i(w_t) / n, so the held-out loss it removed is
  a_t/n g_eval(w_t)^T H_t^-1 g_i(w_t); TracIn sums that over the steps. The head keeps no checkpoints, so the
  fit is replayed here (deterministic, the same steps as `bradley_terry_fit`) and its last iterate is checked
  against the saved weights: the replay is the training run.
- datainf: DataInf's closed form with the head as its one layer, damped by DataInf's rule plus the head's L2.

The held-out loss is the plain preference loss -log sigmoid(r_chosen - r_rejected): margins are a training
device, so evaluation rows are scored without them (as rlhf.evaluate does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlhf.attribution.influence import GradientBlock, datainf_scores, exact_influence_scores
from rlhf.attribution.methods import AttributionSettings
from rlhf.data import PreferenceRow
from rlhf.linear_head import (
    LinearHeadModel,
    bradley_terry_gradients,
    bradley_terry_hessian,
    bradley_terry_objective,
    row_margins,
)

# The fit stops at a gradient norm below 1e-6; training rows that were not the fitted ones leave about
# |g_i| / n, orders of magnitude more for any realistic n.
STATIONARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class HeadProblem:
    """A fitted head with its training and evaluation rows as embedding differences."""

    model: LinearHeadModel
    train_differences: np.ndarray
    train_margins: np.ndarray | None
    eval_differences: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.train_differences)

    def train_gradients(self, weights: np.ndarray) -> np.ndarray:
        return bradley_terry_gradients(weights, self.train_differences, self.train_margins)

    def eval_gradient(self, weights: np.ndarray) -> np.ndarray:
        gradient: np.ndarray = bradley_terry_gradients(weights, self.eval_differences).mean(axis=0)
        return gradient


def head_problem(model_dir: str | Path, train_rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow],
                 settings: AttributionSettings) -> HeadProblem:
    model = LinearHeadModel.load(model_dir, device=settings.device)
    margins = row_margins(train_rows) if model.margin_used else None
    problem = HeadProblem(model, model.pair_differences(train_rows), margins, model.pair_differences(eval_rows))
    if settings.check_training_rows:
        residual = problem.train_gradients(model.weights).mean(axis=0) + model.l2 * model.weights
        residual_norm = float(np.linalg.norm(residual))
        if residual_norm > STATIONARITY_TOLERANCE:
            raise ValueError(
                f"{model_dir}: the {len(train_rows)} training rows given are not the rows this head was fitted on "
                f"(its objective's gradient there is {residual_norm:.2e}, not ~0); pass the export the run was "
                "trained on, or turn check_training_rows off to score other rows anyway")
    return problem


def influence_exact(problem: HeadProblem) -> tuple[np.ndarray, dict[str, Any]]:
    weights = problem.model.weights
    hessian = bradley_terry_hessian(weights, problem.train_differences, problem.train_margins, l2=problem.model.l2)
    scores = exact_influence_scores(problem.train_gradients(weights), problem.eval_gradient(weights), hessian)
    return scores, {"hessian": "exact, of the L2-regularised mean logistic loss", "dimension": int(weights.shape[0])}


@dataclass(frozen=True)
class NewtonStep:
    weights: np.ndarray   # w_t, where the step starts
    hessian_factor: Any   # LU factors of H_t (scipy.linalg.lu_factor), to solve more systems with it
    step_size: float      # a_t


def newton_trajectory(differences: np.ndarray, margins: np.ndarray | None, *, l2: float,
                      max_iterations: int = 100, tolerance: float = 1e-10) -> tuple[list[NewtonStep], np.ndarray]:
    """Replay `bradley_terry_fit` (same start, steps and line search) keeping every step. Returns (steps, final w).

    Each step's Hessian is factorised once and kept, so that TracIn solves its held-out system with the same
    factors; the iterates then agree with the fit's to rounding (checked against the saved weights).
    """
    from scipy.linalg import lu_factor, lu_solve

    weights = np.zeros(differences.shape[1])
    objective = bradley_terry_objective(weights, differences, margins, l2=l2)
    steps: list[NewtonStep] = []
    for _ in range(max_iterations):
        gradient = bradley_terry_gradients(weights, differences, margins).mean(axis=0) + l2 * weights
        if float(np.linalg.norm(gradient)) < tolerance:
            break
        factor = lu_factor(bradley_terry_hessian(weights, differences, margins, l2=l2))
        direction = lu_solve(factor, gradient)
        size = 1.0
        while size > 1e-8:
            candidate = weights - size * direction
            candidate_objective = bradley_terry_objective(candidate, differences, margins, l2=l2)
            if candidate_objective <= objective - 1e-4 * size * gradient @ direction:
                break
            size *= 0.5
        steps.append(NewtonStep(weights, factor, size))
        weights, objective = candidate, candidate_objective
    return steps, weights


def tracin(problem: HeadProblem) -> tuple[np.ndarray, dict[str, Any]]:
    model = problem.model
    steps, final = newton_trajectory(problem.train_differences, problem.train_margins, l2=model.l2)
    drift = float(np.abs(final - model.weights).max())
    if drift > 1e-6:
        raise ValueError(f"{model.folder}: replaying the fit on these rows ends {drift:.2e} away from the saved "
                         "weights, so they are not the rows (or settings) the head was trained with")
    from scipy.linalg import lu_solve

    scores = np.zeros(problem.rows)
    for step in steps:
        direction = lu_solve(step.hessian_factor, problem.eval_gradient(step.weights))
        scores += step.step_size * (problem.train_gradients(step.weights) @ direction)
    scores /= problem.rows
    return scores, {"checkpoints": len(steps), "optimizer": "damped Newton (replayed)",
                    "step_sizes": [step.step_size for step in steps]}


def datainf(problem: HeadProblem, settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
    weights = problem.model.weights
    dimension = int(weights.shape[0])
    scores, lambdas = datainf_scores(problem.train_gradients(weights), problem.eval_gradient(weights),
                                     [GradientBlock("head", 0, dimension, dimension)],
                                     damping=settings.damping, extra_damping=problem.model.l2)
    return scores, {"layers": 1, "lambda": lambdas}
