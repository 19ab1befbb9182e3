"""Reading a sweep folder (written by :func:`simulator.sweep.run_sweep`) into plain numpy arrays.

Folders of format v1 (before runs recorded their Lorenz curve of rewards) still load: their
``lorenz`` is None, and the report says that the curve needs the sweep run again. Folders before
v3 have no fairness figures (``fairness`` is None) and no per-epoch ``rewards`` columns; the
report says those need the sweep run again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.metrics import LORENZ_GRID, lorenz_column
from simulator.sweep import MANIFEST_FORMAT, MANIFEST_FORMAT_V1, MANIFEST_FORMAT_V2

READABLE_FORMATS = (MANIFEST_FORMAT, MANIFEST_FORMAT_V2, MANIFEST_FORMAT_V1)


class ReportError(ValueError):
    """A sweep folder that cannot be reported on, or report settings that make no sense."""


@dataclass(frozen=True)
class SweepData:
    """One sweep: its manifest and every run's per-epoch metrics, grouped by run."""

    folder: Path
    manifest: dict[str, Any]
    columns: dict[str, np.ndarray]  # metrics.parquet, one array per column
    lorenz: dict[str, np.ndarray] | None = None  # lorenz.parquet, one array per column; None in v1
    fairness: dict[str, np.ndarray] | None = None  # fairness.parquet, one row per run; None before v3

    @property
    def scenarios(self) -> list[str]:
        return list(self.manifest["scenarios"])

    @property
    def policies(self) -> list[str]:
        """Policy labels in the sweep's order; the first is the current policy."""
        return list(self.manifest["policies"])

    def series(self, metric: str, *, scenario: str, policy: str) -> np.ndarray:
        """``metric`` as a (runs, epochs) array for one scenario and policy; NaN where a run is shorter."""
        chosen = (self.columns["scenario"] == scenario) & (self.columns["policy"] == policy)
        run_ids = self.columns["run_id"][chosen]
        epochs = self.columns["epoch"][chosen]
        values = self.columns[metric][chosen].astype(np.float64)
        names, run_index = np.unique(run_ids, return_inverse=True)
        table = np.full((len(names), int(epochs.max()) + 1 if epochs.size else 0), np.nan)
        table[run_index, epochs] = values
        return table

    def lorenz_curves(self, *, group: str, scenario: str, policy: str) -> np.ndarray:
        """The recorded Lorenz curves of ``group`` as a (runs, len(LORENZ_GRID)) array, runs in run-id
        order; (0, len(LORENZ_GRID)) for a sweep that recorded none."""
        chosen = self._lorenz_rows(group=group, scenario=scenario, policy=policy)
        if chosen is None or self.lorenz is None:
            return np.zeros((0, len(LORENZ_GRID)))
        return np.column_stack([self.lorenz[lorenz_column(p)][chosen] for p in LORENZ_GRID]).astype(
            np.float64
        )

    def lorenz_value(self, name: str, *, group: str, scenario: str, policy: str) -> np.ndarray:
        """One lorenz.parquet column (``gini``, ``accounts``, ...) per run, in run-id order."""
        chosen = self._lorenz_rows(group=group, scenario=scenario, policy=policy)
        if chosen is None or self.lorenz is None:
            return np.zeros(0)
        values: np.ndarray = self.lorenz[name][chosen].astype(np.float64)
        return values

    def fairness_value(self, name: str, *, scenario: str, policy: str) -> np.ndarray:
        """One fairness.parquet column per run, in run-id order; empty for a sweep without them."""
        if self.fairness is None:
            return np.zeros(0)
        chosen = np.flatnonzero((self.fairness["scenario"] == scenario) & (self.fairness["policy"] == policy))
        chosen = chosen[np.argsort(self.fairness["run_id"][chosen], kind="stable")]
        return self.fairness[name][chosen].astype(np.float64)

    def _lorenz_rows(self, *, group: str, scenario: str, policy: str) -> np.ndarray | None:
        if self.lorenz is None:
            return None
        chosen = np.flatnonzero(
            (self.lorenz["group"] == group)
            & (self.lorenz["scenario"] == scenario)
            & (self.lorenz["policy"] == policy)
        )
        return chosen[np.argsort(self.lorenz["run_id"][chosen], kind="stable")]


def load_sweep(folder: str | Path) -> SweepData:
    """Read ``folder``'s manifest.json, metrics.parquet and (format v2) lorenz.parquet; a clear
    :class:`ReportError` otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder; give the output folder of `python -m simulator sweep`")
    manifest_path = folder / "manifest.json"
    metrics_path = folder / "metrics.parquet"
    for path in (manifest_path, metrics_path):
        if not path.is_file():
            raise ReportError(f"{path}: missing; {folder} is not a finished sweep folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReportError(f"{manifest_path}: not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise ReportError(
            f"{manifest_path}: field 'format' must be one of {', '.join(map(repr, READABLE_FORMATS))}, got "
            f"{manifest.get('format') if isinstance(manifest, dict) else type(manifest).__name__!r}"
        )
    for field in ("scenarios", "policies", "runs"):
        if not manifest.get(field):
            raise ReportError(f"{manifest_path}: field {field!r} is missing or empty")
    columns = _read_columns(metrics_path, required=("run_id", "scenario", "policy", "epoch"))
    lorenz = None
    if manifest["format"] != MANIFEST_FORMAT_V1:
        lorenz_path = folder / "lorenz.parquet"
        if not lorenz_path.is_file():
            raise ReportError(f"{lorenz_path}: missing; a {MANIFEST_FORMAT} sweep folder has one")
        lorenz = _read_columns(
            lorenz_path,
            required=("run_id", "scenario", "policy", "group", "gini", *map(lorenz_column, LORENZ_GRID)),
        )
    fairness = None
    if manifest["format"] == MANIFEST_FORMAT:
        fairness_path = folder / "fairness.parquet"
        if not fairness_path.is_file():
            raise ReportError(f"{fairness_path}: missing; a {MANIFEST_FORMAT} sweep folder has one")
        fairness = _read_columns(fairness_path, required=("run_id", "scenario", "policy", "honest_pay_ratio"))
    return SweepData(folder=folder, manifest=manifest, columns=columns, lorenz=lorenz, fairness=fairness)


def _read_columns(path: Path, *, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise ReportError(f"{path}: cannot read Parquet: {error}") from None
    columns = {
        name: np.asarray(table.column(name).to_numpy(zero_copy_only=False)) for name in table.column_names
    }
    for name in required:
        if name not in columns:
            raise ReportError(f"{path}: column {name!r} is missing")
    if table.num_rows == 0:
        raise ReportError(f"{path}: has no rows")
    return columns
