"""Proof of Attribution: how much each training row, judgment and contributor moved a trained model.

    python -m rlhf attribute --model runs/rm-1 --data export.jsonl --eval heldout.jsonl --method tracin \\
        --out runs/rm-1/attribution.json

From Python:

    from rlhf.attribution import AttributionSettings, attribution_run
    report = attribution_run(model_dir, rows, eval_rows, method="influence-exact", settings=AttributionSettings())
    report["contributors"]        # contributor id -> score (> 0 helped, < 0 hurt)

Modules: `methods` (settings, `RowScores`, the registry), `influence` (the shared arithmetic), `linear` (the
linear head: exact influence, TracIn over its Newton steps, DataInf), `neural` (reward models and DPO policies:
per-example gradients, projection, cache, TracIn, DataInf), `baselines` (agreement, Dawid-Skene reliability),
`aggregate` (the credit rules: rows -> judgments -> contributors, duplicates share), `run` (one recorded run),
`validation` (the harness that checks the methods against retraining).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AttributionSettings": "methods", "RowScores": "methods", "AttributionMethod": "methods",
    "METHODS": "methods", "method_get": "methods", "method_names": "methods", "method_register": "methods",
    "Attribution": "aggregate", "attribution_aggregate": "aggregate",
    "attribution_run": "run", "attribution_write": "run", "data_identity": "run", "training_rows_of_run": "run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (the CLI does) loads neither torch nor scipy.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlhf.attribution' has no attribute {name!r}")
    value = getattr(import_module(f"rlhf.attribution.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
