"""The three gradient methods, registered by name; each dispatches on the run's kind (see rlhf.attribution)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlhf.attribution.methods import AttributionSettings, RowScores, method_register
from rlhf.data import PreferenceRow
from rlhf.runs import run_json_read

if TYPE_CHECKING:
    from rlhf.attribution.linear import HeadProblem

ALL_MODELS = ("linear_head", "reward_model", "dpo_policy")


class _GradientMethod:
    name = ""
    help = ""
    model_kinds: tuple[str, ...] = ALL_MODELS
    uses_model = True

    def score(self, model_dir: str | Path, train_rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow],
              settings: AttributionSettings) -> RowScores:
        record = run_json_read(model_dir)
        if record["kind"] not in self.model_kinds:
            raise ValueError(f"{self.name} scores {', '.join(self.model_kinds)} runs; {model_dir} holds a "
                             f"{record['kind']}")
        if not train_rows or not eval_rows:
            raise ValueError("attribution needs at least one training row and one evaluation row")
        if record["kind"] == "linear_head":
            from rlhf.attribution.linear import head_problem

            values, details = self._linear(head_problem(model_dir, train_rows, eval_rows, settings), settings)
        else:
            values, details = self._neural(model_dir, record, train_rows, eval_rows, settings)
        return RowScores({row.row_id: float(value) for row, value in zip(train_rows, values, strict=True)},
                         details=details)

    def _linear(self, problem: HeadProblem, settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def _neural(self, model_dir: str | Path, record: dict[str, Any], train_rows: Sequence[PreferenceRow],
                eval_rows: Sequence[PreferenceRow], settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError


class InfluenceExact(_GradientMethod):
    name = "influence-exact"
    help = "exact influence (1/n) g_eval^T H^-1 g_i with the linear head's closed-form Hessian; ground truth there"
    model_kinds: tuple[str, ...] = ("linear_head",)

    def _linear(self, problem: HeadProblem, settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        from rlhf.attribution.linear import influence_exact

        return influence_exact(problem)


class TracIn(_GradientMethod):
    name = "tracin"
    help = "TracIn: sum over saved checkpoints of (learning rate / n) x g_i . g_eval (Newton steps for the head)"

    def _linear(self, problem: HeadProblem, settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        from rlhf.attribution.linear import tracin

        return tracin(problem)

    def _neural(self, model_dir: str | Path, record: dict[str, Any], train_rows: Sequence[PreferenceRow],
                eval_rows: Sequence[PreferenceRow], settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        from rlhf.attribution.neural import tracin

        return tracin(model_dir, record, train_rows, eval_rows, settings)


class DataInf(_GradientMethod):
    name = "datainf"
    help = "DataInf: closed-form layer-wise inverse-Hessian approximation at the final model"

    def _linear(self, problem: HeadProblem, settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        from rlhf.attribution.linear import datainf

        return datainf(problem, settings)

    def _neural(self, model_dir: str | Path, record: dict[str, Any], train_rows: Sequence[PreferenceRow],
                eval_rows: Sequence[PreferenceRow], settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
        from rlhf.attribution.neural import datainf

        return datainf(model_dir, record, train_rows, eval_rows, settings)


for _method in (InfluenceExact(), TracIn(), DataInf()):
    method_register(_method)
