"""One attribution run: pick the training rows of a model, score them with a method, apply the credit rules,
and record everything that produced the numbers.

    report = attribution_run("runs/rm-1", rows, eval_rows, method="tracin", settings=AttributionSettings())
    attribution_write(report, "runs/rm-1/attribution-tracin.json")

The report (schema version 1) is plain JSON:

    {"schema_version": 1, "method": "tracin", "settings": {...}, "seed": 0,
     "model": {"dir", "kind", "status", "run_json_sha256", "global_step", "trained_on_sha256"},
     "data": {"path", "hash", "hash_kind": "snapshot" | "sha256", "sha256", "rows", "train_rows",
              "excluded": {"heldout": n, "dropped": n}, "matches_run": bool},
     "eval": {"path", "hash", "hash_kind", "sha256", "rows", "comparisons_also_in_training": n},
     "versions": {...}, "cost": {"wall_seconds", "peak_rss_bytes", "peak_cuda_bytes"},
     "rules": {...}, "details": {...}, "totals": {...},
     "rows": [{"row_id", "score", "credit_group", "judgment_ids"}],
     "judgments": {"<id>": {"score", "contributor"}}, "contributors": {"<id>": score}}

Training rows are the rows of the export that the run trained on: the run's held-out rows (by row id, from
run.json) and the rows its trainer dropped are left out and counted.
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rlhf.attribution.aggregate import Attribution, attribution_aggregate, comparison_key
from rlhf.attribution.methods import AttributionSettings, RowScores, method_get
from rlhf.data import PreferenceRow, data_sha256, rows_sha256
from rlhf.runs import library_versions, run_json_read

SCHEMA_VERSION = 1
SNAPSHOT_FILE = "ledgerloop_snapshot.json"
SNAPSHOT_ROW_FIELDS = ("snapshot_hash", "snapshot_content_hash")
RULES = {
    "sign": "a score is the change in mean held-out preference loss if the row were removed: > 0 helped, < 0 hurt "
            "(baselines: a quality score on [-1, 1] per judgment, same sign convention)",
    "row_to_judgment": "a row's judgments gave its label (or the opposite / none, as `votes` say); see "
                       "rlhf.attribution.aggregate",
    "duplicates": "judgments giving the same label to the same comparison (same prompt and replies) form one "
                  "credit group, which earns one share (the mean of its rows' scores) split equally among them",
    "contributor": "sum of the contributor's judgment scores",
}


def data_identity(path: str | Path) -> dict[str, Any]:
    """{path, hash, hash_kind, sha256}: the snapshot's content hash when the export carries one, else the file's."""
    path = Path(path)
    sha256 = data_sha256(path)
    identity = {"path": str(path), "hash": sha256, "hash_kind": "sha256", "sha256": sha256}
    if path.is_dir() and (path / SNAPSHOT_FILE).is_file():
        content_hash = json.loads((path / SNAPSHOT_FILE).read_text(encoding="utf-8")).get("content_hash")
        if content_hash:
            identity.update(hash=str(content_hash), hash_kind="snapshot")
    elif path.is_file():
        with path.open("rb") as handle:
            first = handle.readline()
        try:
            record = json.loads(first) if first.strip() else {}
        except json.JSONDecodeError:
            record = {}
        for field in SNAPSHOT_ROW_FIELDS:
            if isinstance(record, dict) and record.get(field):
                identity.update(hash=str(record[field]), hash_kind="snapshot")
                break
    return identity


def rows_identity(rows: Sequence[PreferenceRow]) -> dict[str, Any]:
    sha256 = rows_sha256(rows)
    return {"path": None, "hash": sha256, "hash_kind": "sha256", "sha256": sha256}


def training_rows_of_run(record: dict[str, Any], rows: Sequence[PreferenceRow]) -> tuple[list[PreferenceRow],
                                                                                         dict[str, int]]:
    heldout = set(record["data"].get("heldout_row_ids") or [])
    dropped = set(record.get("dropped_rows", {}).get("row_ids") or [])
    train = [row for row in rows if row.row_id not in heldout and row.row_id not in dropped]
    return train, {"heldout": sum(row.row_id in heldout for row in rows),
                   "dropped": sum(row.row_id in dropped for row in rows)}


def attribution_run(model_dir: str | Path, rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow], *,
                    method: str, settings: AttributionSettings | None = None,
                    votes: Mapping[int, int] | None = None, data: dict[str, Any] | None = None,
                    eval_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score the rows of `rows` that `model_dir` trained on against `eval_rows`; the report described above.

    `data` / `eval_data`: identities from `data_identity` when the rows came from files (else hashed in memory).
    `votes`: judgment id -> +1 / -1 / 0, for exports whose rows list dissenting judgments.
    """
    settings = settings or AttributionSettings()
    chosen = method_get(method)
    record = run_json_read(model_dir)
    if record["status"] != "completed":
        raise ValueError(f"{model_dir}: the run is {record['status']}, so it holds no final model to attribute")
    if record["kind"] not in chosen.model_kinds:
        raise ValueError(f"method {method} scores {', '.join(chosen.model_kinds)} runs; {model_dir} holds a "
                         f"{record['kind']} (influence-exact needs the linear head: use tracin or datainf)")
    train_rows, excluded = training_rows_of_run(record, rows)
    if not train_rows:
        raise ValueError(f"none of the {len(rows)} rows given is a training row of {model_dir}")
    if not eval_rows:
        raise ValueError("no evaluation rows: pass the held-out set the scores are measured on")
    data = data or rows_identity(rows)
    eval_data = eval_data or rows_identity(eval_rows)

    started = time.perf_counter()
    cuda_peak = _cuda_peak_reset()
    options = {"votes": votes} if getattr(chosen, "reads_votes", False) else {}
    scores: RowScores = chosen.score(model_dir, train_rows, eval_rows, settings, **options)
    not_finite = [row_id for row_id, value in scores.row_scores.items() if not math.isfinite(value)]
    if not_finite:
        raise ValueError(f"{method} gave non-finite scores for {len(not_finite)} row(s), e.g. {not_finite[:3]}; "
                         "the model's loss is not finite on them")
    attribution = attribution_aggregate(train_rows, scores, share_duplicates=settings.share_duplicates, votes=votes)
    wall_seconds = time.perf_counter() - started

    training_comparisons = {comparison_key(row)[0] for row in train_rows}
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": method,
        "method_help": chosen.help,
        "settings": settings.as_dict(),
        "seed": settings.seed,
        "model": {"dir": str(Path(model_dir).resolve()), "kind": record["kind"], "status": record["status"],
                  "run_json_sha256": hashlib.sha256((Path(model_dir) / "run.json").read_bytes()).hexdigest(),
                  "global_step": record.get("global_step"), "trained_on_sha256": record["data"].get("sha256")},
        "data": {**data, "rows": len(rows), "train_rows": len(train_rows), "excluded": excluded,
                 "matches_run": data["sha256"] == record["data"].get("sha256")},
        "eval": {**eval_data, "rows": len(eval_rows),
                 "comparisons_also_in_training": sum(comparison_key(row)[0] in training_comparisons
                                                     for row in eval_rows)},
        "versions": {**library_versions(), "scipy": _version("scipy")},
        "cost": {"wall_seconds": round(wall_seconds, 4), "peak_rss_bytes": _peak_rss_bytes(),
                 "peak_cuda_bytes": cuda_peak()},
        "rules": RULES,
        "details": scores.details,
        "totals": attribution.totals(),
        **attribution_payload(train_rows, attribution),
    }


def attribution_payload(rows: Sequence[PreferenceRow], attribution: Attribution) -> dict[str, Any]:
    """The per-row, per-judgment and per-contributor parts of the report."""
    return {
        "rows": [{"row_id": row.row_id, "score": attribution.rows[row.row_id],
                  "credit_group": attribution.row_groups[row.row_id], "judgment_ids": list(row.judgment_ids)}
                 for row in rows],
        "judgments": {str(judgment): {"score": score, "contributor": attribution.judgment_contributors[judgment]}
                      for judgment, score in attribution.judgments.items()},
        "contributors": dict(sorted(attribution.contributors.items())),
    }


def attribution_write(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(report, indent=1, allow_nan=False, default=_json_default) + "\n",
                         encoding="utf-8")
    temporary.replace(path)
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _peak_rss_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux: the peak of this whole process, which includes earlier work in it.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _cuda_peak_reset() -> Callable[[], int | None]:
    """Reset CUDA's peak counter if torch is loaded with a GPU; returns a function reading the peak (or None)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        def peak_after_import() -> int | None:
            loaded = sys.modules.get("torch")
            return int(loaded.cuda.max_memory_allocated()) if loaded is not None and loaded.cuda.is_available() \
                else None
        return peak_after_import
    torch.cuda.reset_peak_memory_stats()
    return lambda: int(torch.cuda.max_memory_allocated())


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
