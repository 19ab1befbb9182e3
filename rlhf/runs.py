"""What every training run shares: run.json, versions, device choice, TRL arguments, progress and cancellation.

A run folder holds the model (or head), its tokenizer, resumable `checkpoint-N/` folders and `run.json`:

    {"kind": "reward_model" | "linear_head" | "dpo_policy", "status": "completed" | "cancelled",
     "config": {...}, "seed": 0, "data": {"path", "sha256", "rows", "train_rows", "heldout_rows",
     "heldout_row_ids", "margin_used"}, "versions": {"torch", "transformers", "trl", "peft", ...},
     "device": {...}, "global_step": 40, "resumed_from": null, "dropped_rows": {"count", "row_ids", "reason"},
     "metrics": {"train": {...}, "heldout": {...}}, "timings": {"...seconds", "pairs_per_second"}}

`rlhf.evaluate` reads `kind` to know how to load the folder.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rlhf.config import TrainingConfig
from rlhf.data import (
    PreferenceRow,
    data_sha256,
    preference_rows_load,
    preference_split,
    rows_have_margin,
    rows_sha256,
)
from rlhf.fields import ConfigError

if TYPE_CHECKING:
    import datasets
    from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments

RUN_JSON = "run.json"
RUN_KINDS = ("reward_model", "linear_head", "dpo_policy")

# on_progress(step, total_steps, loss, eta_seconds): called at every logged step.
ProgressFn = Callable[[int, int, float | None, float | None], Any]
# should_stop() -> True asks the run to stop cleanly at the end of the current step (a checkpoint is written).
StopFn = Callable[[], bool]
# The settings of one kind of run (reward model, DPO): a run keeps the kind it was given.
Config = TypeVar("Config", bound=TrainingConfig)


class TrainingCancelled(Exception):
    """Raise from `on_progress` (or return True from `should_stop`) to stop a run cleanly: the current step
    finishes, a checkpoint is written, run.json says `cancelled`, and `resume=True` continues from there."""


@dataclass
class RunResult:
    """What a training function returns; `record` is exactly what run.json holds."""

    output_dir: Path
    kind: str
    status: str
    global_step: int
    metrics: dict[str, Any]
    dropped_row_ids: list[str]
    record: dict[str, Any] = field(repr=False)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a trained model (read from metadata: nothing imported)."""
    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "tokenizers", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def device_resolve(choice: str) -> dict[str, Any]:
    """`auto`/`cpu`/`cuda` -> {"device": "cpu"|"cuda", "use_cpu": bool, "bf16": bool, "name": str}.

    bf16 only on a CUDA device that supports it; CPU runs stay in float32 (CPU bf16 is slow and lossy here).
    """
    import torch

    if choice not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {choice!r}")
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise ConfigError("device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    if choice == "cpu" or not cuda:
        return {"device": "cpu", "use_cpu": True, "bf16": False, "name": platform.processor() or "cpu"}
    return {"device": "cuda", "use_cpu": False, "bf16": bool(torch.cuda.is_bf16_supported()),
            "name": torch.cuda.get_device_name(0)}


def trl_common_arguments(config: TrainingConfig, device: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments shared by TRL's `RewardConfig` and `DPOConfig`, translated from our config."""
    return {
        "output_dir": config.output_dir,
        "num_train_epochs": config.num_epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "weight_decay": config.weight_decay,
        "warmup_steps": config.warmup_ratio,  # a float in [0, 1) is a share of the steps in transformers 5
        "max_length": config.max_length,
        "seed": config.seed,
        "save_strategy": "steps" if config.save_steps else "no",
        "save_steps": config.save_steps or 500,
        "save_total_limit": config.save_total_limit,
        "logging_steps": config.logging_steps,
        "gradient_checkpointing": config.gradient_checkpointing,
        "use_cpu": device["use_cpu"],
        "bf16": device["bf16"],
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete `checkpoint-N` folder under `output_dir`, or None.

    A worker killed while writing a checkpoint leaves a folder without its `trainer_state.json`, which
    the trainer writes last (after the weights, optimizer and RNG state): resuming from such a folder
    fails, so it is skipped for the one before it.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    numbered = []
    for folder in output_dir.glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and suffix.isdigit():
            numbered.append((int(suffix), folder))
    for _, folder in sorted(numbered, reverse=True):
        try:
            json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return str(folder)
    return None


def progress_callback(on_progress: ProgressFn | None, should_stop: StopFn | None) -> Any:
    """A transformers `TrainerCallback` that reports progress and stops the trainer cleanly when asked.

    Its `cancelled` says whether it stopped the run; the class is made here, where transformers is imported,
    so no name outside describes it.
    """
    from transformers import TrainerCallback

    class _ProgressAndStop(TrainerCallback):
        def __init__(self) -> None:
            self.cancelled = False
            self._started_at = time.monotonic()
            self._first_step = 0

        def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                           **kwargs: Any) -> None:
            self._started_at = time.monotonic()
            self._first_step = state.global_step  # after a resume, ETA counts only this session's steps

        def _stop(self, control: TrainerControl) -> None:
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True  # a resumable checkpoint of the last finished step

        def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                        **kwargs: Any) -> TrainerControl:
            if should_stop is not None and should_stop():
                self._stop(control)
            return control

        def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                   logs: dict[str, float] | None = None, **kwargs: Any) -> TrainerControl:
            if on_progress is None or not logs or "loss" not in logs:
                return control
            steps_done = state.global_step - self._first_step
            elapsed = time.monotonic() - self._started_at
            eta = elapsed / steps_done * (state.max_steps - state.global_step) if steps_done > 0 else None
            try:
                on_progress(state.global_step, state.max_steps, float(logs["loss"]), eta)
            except TrainingCancelled:
                self._stop(control)
            return control

    return _ProgressAndStop()


@dataclass
class PreparedRun(Generic[Config]):
    """A run's inputs, resolved before any model is loaded: config, rows and their split, device, start time."""

    config: Config
    all_rows: list[PreferenceRow]
    train_rows: list[PreferenceRow]
    heldout_rows: list[PreferenceRow]
    data_hash: str
    margin_used: bool
    device: dict[str, Any]
    started: float = field(default_factory=time.monotonic)

    def data_description(self) -> dict[str, Any]:
        return {
            "path": self.config.data_path,
            "sha256": self.data_hash,
            "rows": len(self.all_rows),
            "train_rows": len(self.train_rows),
            "heldout_rows": len(self.heldout_rows),
            "heldout_fraction": self.config.eval_fraction,
            "heldout_row_ids": [row.row_id for row in self.heldout_rows],
            "margin_used": self.margin_used,
        }


def run_prepare(config: Config, rows: list[PreferenceRow] | None = None, *,
                use_margin: bool = False) -> PreparedRun[Config]:
    """Resolve paths, read rows (from `rows` if given, else `config.data_path`), split them, pick the device.

    `use_margin`: the method can use margins; they are then used when any row has one.
    """
    started = time.monotonic()
    config = config_with_paths_resolved(config)
    if rows is None:
        if not config.data_path:
            raise ConfigError("data_path is required (the --data export) when no rows are passed in")
        rows = preference_rows_load(config.data_path)
        data_hash = data_sha256(config.data_path)
    else:
        data_hash = rows_sha256(rows)
    train, heldout = preference_split(rows, heldout_fraction=config.eval_fraction, seed=config.seed)
    return PreparedRun(config=config, all_rows=list(rows), train_rows=train, heldout_rows=heldout,
                       data_hash=data_hash, margin_used=use_margin and rows_have_margin(rows),
                       device=device_resolve(config.device), started=started)


def config_with_paths_resolved(config: Config) -> Config:
    """Record local folders and files as absolute paths, so run.json still points at them from anywhere."""
    changes: dict[str, Any] = {}
    for name in ("model_path", "ref_model_path", "data_path"):
        value = getattr(config, name, None)
        if value and Path(value).exists():
            changes[name] = str(Path(value).resolve())
    return dataclasses.replace(config, **changes) if changes else config


def trainer_fit(
    run: PreparedRun[Config],
    trainer: Trainer,
    *,
    kind: str,
    on_progress: ProgressFn | None,
    should_stop: StopFn | None,
    resume: bool,
    heldout_metrics: Callable[[Any], dict[str, Any]],
    dropped_reason: str,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Train a constructed TRL trainer to the end (or a clean stop), save, evaluate held-out rows, write run.json.

    The trainer's prepared `train_dataset` still carries `row_id`, so the rows TRL filtered out are exactly
    the training rows missing from it. `heldout_metrics(model)` scores the trained model on held-out rows.
    """
    from transformers import PrinterCallback

    progress = progress_callback(on_progress, should_stop)
    trainer.add_callback(progress)
    trainer.remove_callback(PrinterCallback)  # progress goes through on_progress, not log dicts on stdout
    config = run.config
    kept_ids = set(trainer_rows(trainer)["row_id"])
    dropped_row_ids = [row.row_id for row in run.train_rows if row.row_id not in kept_ids]
    if not kept_ids:
        raise ValueError(f"every training row was dropped ({dropped_reason}); raise --max-length")
    loaded = time.monotonic()

    resumed_from = last_checkpoint(config.output_dir) if resume else None
    train_output = trainer.train(resume_from_checkpoint=resumed_from)
    trained = time.monotonic()
    status = "cancelled" if progress.cancelled else "completed"
    metrics: dict[str, Any] = {"train": {key: value for key, value in train_output.metrics.items()
                                         if isinstance(value, int | float)}}
    if status == "completed":
        trainer.save_model(config.output_dir)
        if run.heldout_rows:
            assert trainer.model is not None   # a Trainer is made with its model
            trainer.model.eval()
            metrics["heldout"] = heldout_metrics(trainer.model)
    finished = time.monotonic()

    record = run_record(
        run, kind=kind, status=status, global_step=trainer.state.global_step, resumed_from=resumed_from,
        dropped_row_ids=dropped_row_ids, dropped_reason=dropped_reason, metrics=metrics,
        timings={
            "load_seconds": loaded - run.started,
            "train_seconds": trained - loaded,
            "eval_seconds": finished - trained,
            "total_seconds": finished - run.started,
            "train_pairs": len(kept_ids),
            # pairs seen per second of training, epochs included, as transformers measures it
            "pairs_per_second": float(train_output.metrics.get("train_samples_per_second") or 0.0),
        },
        extra={"lora": config.lora, **(extra or {})},
    )
    run_json_write(config.output_dir, record)
    return RunResult(output_dir=Path(config.output_dir), kind=kind, status=status,
                     global_step=trainer.state.global_step, metrics=metrics, dropped_row_ids=dropped_row_ids,
                     record=record)


def trainer_rows(trainer: Trainer) -> datasets.Dataset:
    """The rows a TRL trainer trains on: the `datasets.Dataset` it was given, as its preparation left it."""
    return trainer.train_dataset


def run_record(
    run: PreparedRun[Config],
    *,
    kind: str,
    status: str,
    global_step: int,
    resumed_from: str | None,
    dropped_row_ids: list[str],
    dropped_reason: str,
    metrics: dict[str, Any],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run.json content (see the module docstring)."""
    if kind not in RUN_KINDS:
        raise ValueError(f"kind must be one of {RUN_KINDS}, got {kind!r}")
    record = {
        "kind": kind,
        "status": status,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": run.config.as_dict(),
        "seed": run.config.seed,
        "data": run.data_description(),
        "versions": library_versions(),
        "device": run.device,
        "global_step": global_step,
        "resumed_from": resumed_from,
        "dropped_rows": {"count": len(dropped_row_ids), "row_ids": dropped_row_ids, "reason": dropped_reason},
        "metrics": metrics,
        "timings": {key: round(value, 4) for key, value in timings.items()},
    }
    record.update(extra or {})
    return record


def run_json_write(output_dir: str | Path, record: dict[str, Any]) -> Path:
    path = Path(output_dir) / RUN_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def run_json_read(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / RUN_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no run.json; this folder was not written by `python -m rlhf train-reward/train-dpo`"
        )
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if record.get("kind") not in RUN_KINDS:
        raise ValueError(f"{path}: unknown kind {record.get('kind')!r}; expected one of {RUN_KINDS}")
    return record
