"""Feedback quality: agreement, annotator reliability, quality signals and flags, simulated populations.

Pure Python + numpy (+ scipy inside the functions that need it); importing this package loads nothing heavy.
Everything takes plain data (a list of judgment mappings or `Judgment`s, a gold mapping) and returns plain data.

    from rlhf.quality import quality_report
    report = quality_report(judgments, gold, seed=0)       # JSON-ready dict, see report.py

Modules: `judgments` (data model, codings), `krippendorff` (alpha, pairwise agreement), `dawid_skene`
(reliability, true-label posteriors, majority vote), `signals` and `flags` (per-annotator checks),
`report` (all of it in one dict), `population` (simulated annotators with known truth).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Judgment": "judgments", "JudgmentError": "judgments", "JudgmentTable": "judgments",
    "judgment_from_record": "judgments", "judgment_table": "judgments", "CHOICES": "judgments",
    "CODINGS": "judgments", "DEFAULT_CODING": "judgments",
    "AlphaResult": "krippendorff", "PairAgreement": "krippendorff", "alpha_nominal": "krippendorff",
    "krippendorff_alpha": "krippendorff", "pairwise_agreement": "krippendorff",
    "DawidSkeneConfig": "dawid_skene", "DawidSkeneResult": "dawid_skene", "dawid_skene_estimate": "dawid_skene",
    "majority_vote": "dawid_skene",
    "AnnotatorSignals": "signals", "annotator_signals": "signals", "wilson_interval": "signals",
    "FLAG_CODES": "flags", "Flag": "flags", "FlagOutcome": "flags", "FlagThresholds": "flags",
    "annotator_flags": "flags",
    "quality_report": "report", "REPORT_SCHEMA_VERSION": "report",
    "KINDS": "population", "KIND_HELP": "population", "PopulationConfig": "population",
    "SimulatedAnnotator": "population", "SimulatedPopulation": "population", "assignment_plan": "population",
    "gold_sample": "population", "parse_mix": "population", "population_simulate": "population",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that `import rlhf.quality` stays instant for callers that only need one piece.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlhf.quality' has no attribute {name!r}")
    value = getattr(import_module(f"rlhf.quality.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
