"""Reading a sweep folder (written by :func:`simulator.sweep.run_sweep`) into plain numpy arrays."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.sweep import MANIFEST_FORMAT


class ReportError(ValueError):
    """A sweep folder that cannot be reported on, or report settings that make no sense."""


@dataclass(frozen=True)
class SweepData:
    """One sweep: its manifest and every run's per-epoch metrics, grouped by run."""

    folder: Path
    manifest: dict[str, Any]
    columns: dict[str, np.ndarray]  # metrics.parquet, one array per column

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


def load_sweep(folder: str | Path) -> SweepData:
    """Read ``folder``'s manifest.json and metrics.parquet; a clear :class:`ReportError` otherwise."""
    import pyarrow.parquet as pq

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
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ReportError(
            f"{manifest_path}: field 'format' must be {MANIFEST_FORMAT!r}, got "
            f"{manifest.get('format') if isinstance(manifest, dict) else type(manifest).__name__!r}"
        )
    for field in ("scenarios", "policies", "runs"):
        if not manifest.get(field):
            raise ReportError(f"{manifest_path}: field {field!r} is missing or empty")
    try:
        table = pq.read_table(metrics_path)
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise ReportError(f"{metrics_path}: cannot read Parquet: {error}") from None
    columns = {
        name: np.asarray(table.column(name).to_numpy(zero_copy_only=False)) for name in table.column_names
    }
    for required in ("run_id", "scenario", "policy", "epoch"):
        if required not in columns:
            raise ReportError(f"{metrics_path}: column {required!r} is missing")
    if table.num_rows == 0:
        raise ReportError(f"{metrics_path}: has no rows")
    return SweepData(folder=folder, manifest=manifest, columns=columns)
