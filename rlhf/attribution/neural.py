"""Per-example gradients of transformer reward models and DPO policies, for TracIn and DataInf.

For each checkpoint of a run (the `checkpoint-N/` folders the trainer saved, and the final model), every
training and evaluation row's loss gradient is computed over the parameters that matter (LoRA weights and the
score head of an adapter; the score head or final norm and the last transformer layer of a full fine-tune),
in batches with `torch.func.vmap(grad(...))`, projected when large, and cached on disk.

Losses, as the trainers optimise them (rlhf.reward / rlhf.dpo):
- reward_model: -log sigmoid(r_chosen - r_rejected - margin) (+ TRL's centring term when the run used it) for
  training rows; held-out rows without margin or centring.
- dpo_policy: -log sigmoid(beta [(log pi - log ref)(chosen) - (log pi - log ref)(rejected)]), `sigmoid` loss only.

Texts are built exactly as the trainers build them: prompt + reply + eos for reward models, and
`rlhf.evaluate.pair_token_ids` for DPO. Batches are padded on the right WITHOUT an attention mask (the mask
logic of transformers is not vmap-able); for a causal decoder right padding cannot change any earlier position,
which is checked once per run on a padded example, and a model that fails the check is handled one example at
a time with its attention mask.

Projection: a block (one parameter tensor) is count-sketched, each entry added with a seeded random sign into
a seeded random bucket. Inner products are kept in expectation, the cost is linear in the parameters, and no
projection matrix is stored. Blocks of up to 256 entries stay whole; the rest of the budget `projection_dim` is
split over the larger blocks in proportion to their size.

Cache: one folder per (model weights hash, checkpoint, loss and projection settings), holding one vector per
row keyed by the hash of what the gradient depends on (loss kind, prompt, replies, margin, max_length), so a
second attribution of the same model (another method, more evaluation rows, next epoch's rows that did not
change) computes only what it lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from rlhf.attribution.influence import GradientBlock, datainf_scores
from rlhf.attribution.methods import AttributionSettings
from rlhf.data import PreferenceRow
from rlhf.linear_head import EmbeddingCache

if TYPE_CHECKING:
    from peft import PeftModel
    from torch import Tensor
    from torch.nn import Module
    from transformers import PreTrainedModel

# A row's loss as a function of (parameters, token ids, scored-token mask, extra row values, attention mask or
# None): what torch.func differentiates.
LossFunction: TypeAlias = "Callable[..., Tensor]"

WEIGHT_FILE_PATTERN = re.compile(r"^(adapter_model|model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)$")
CHECKPOINT_FOLDER = re.compile(r"^checkpoint-(\d+)$")
LAYER_INDEX = re.compile(r"\.(?:layers|h|layer|blocks)\.(\d+)\.")
MIN_SKETCH_DIM = 16
KEEP_WHOLE = 256   # blocks this small are never sketched


def default_gradient_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ledgerloop" / "gradients"


def weights_sha256(folder: str | Path) -> str:
    """sha256 over a model folder's weight and config files (names and bytes, sorted)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and (WEIGHT_FILE_PATTERN.match(p.name) or p.name in ("config.json",
                                                                                       "adapter_config.json")))
    if not names:
        raise FileNotFoundError(f"{folder}: no model weights (model.safetensors or adapter_model.safetensors)")
    for name in names:
        digest.update(name.encode() + b"\0")
        with (folder / name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- checkpoints and their learning rates


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    step: int
    learning_rate_sum: float   # sum of the learning rates of the optimizer steps this checkpoint stands for

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder.name or str(self.folder), "step": self.step,
                "learning_rate_sum": self.learning_rate_sum}


def run_checkpoints(model_dir: str | Path, record: dict[str, Any], *, which: str = "all") -> list[Checkpoint]:
    """The run's saved checkpoints up to its final step, then the final model, each standing for the optimizer
    steps since the previous one (TracIn's "interval"); `which="final"`: the final model for every step."""
    model_dir = Path(model_dir)
    final_step = int(record["global_step"])
    saved = []
    if which == "all":
        for path in model_dir.iterdir():
            match = CHECKPOINT_FOLDER.match(path.name)
            if path.is_dir() and match and 0 < int(match.group(1)) < final_step:
                saved.append((int(match.group(1)), path))
    saved.sort()
    learning_rate = _learning_rate_schedule(model_dir, record)
    checkpoints, previous = [], 0
    for step, folder in [*saved, (final_step, model_dir)]:
        steps = np.arange(previous + 1, step + 1)
        checkpoints.append(Checkpoint(folder, step, float(learning_rate(steps).sum()) if steps.size else 0.0))
        previous = step
    return checkpoints


def _learning_rate_schedule(model_dir: Path, record: dict[str, Any]) -> Callable[[npt.ArrayLike], np.ndarray]:
    """step -> learning rate, from the newest trainer_state.json's log (interpolated), else the configured rate."""
    states = sorted(model_dir.glob("checkpoint-*/trainer_state.json"),
                    key=lambda path: int(match.group(1))
                    if (match := CHECKPOINT_FOLDER.match(path.parent.name)) else -1)
    logged: list[tuple[int, float]] = []
    if states:
        history = json.loads(states[-1].read_text(encoding="utf-8")).get("log_history", [])
        logged = sorted({(int(entry["step"]), float(entry["learning_rate"])) for entry in history
                         if "learning_rate" in entry and "step" in entry})
    configured = float(record["config"]["learning_rate"])
    if not logged:
        return lambda steps: np.full(np.shape(steps), configured)
    known_steps = np.array([step for step, _ in logged], dtype=np.float64)
    known_rates = np.array([rate for _, rate in logged])
    return lambda steps: np.interp(np.asarray(steps, dtype=np.float64), known_steps, known_rates)


# ---------------------------------------------------------------- projection


class CountSketch:
    """Seeded count sketch of gradient blocks (name -> tensor [batch, ...]) into one vector per example."""

    def __init__(self, sizes: dict[str, int], *, target_dim: int, seed: int, device: str) -> None:
        import torch

        total = sum(sizes.values())
        # Small blocks (a score head, a norm) stay whole; the large ones share what is left of the budget.
        large_total = sum(size for size in sizes.values() if size > KEEP_WHOLE)
        budget = max(target_dim - (total - large_total), KEEP_WHOLE)
        self.layout: list[GradientBlock] = []
        self._sketch: dict[str, tuple[Any, Any, int] | None] = {}
        start = 0
        for name, size in sizes.items():
            width = size
            if target_dim and total > target_dim and size > KEEP_WHOLE:
                width = min(size, max(MIN_SKETCH_DIM, round(budget * size / large_total)))
            if width < size:
                generator = torch.Generator().manual_seed(int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:15],
                                                              16))
                buckets = torch.randint(width, (size,), generator=generator).to(device)
                signs = (torch.randint(2, (size,), generator=generator) * 2 - 1).float().to(device)
                self._sketch[name] = (buckets, signs, width)
            else:
                self._sketch[name] = None
            self.layout.append(GradientBlock(name, start, start + width, size))
            start += width
        self.dimension = start

    def __call__(self, gradients: dict[str, Tensor]) -> Tensor:
        import torch

        parts = []
        for block in self.layout:
            flat = gradients[block.name].reshape(gradients[block.name].shape[0], -1).float()
            sketch = self._sketch[block.name]
            if sketch is None:
                parts.append(flat)
            else:
                buckets, signs, width = sketch
                parts.append(torch.zeros(flat.shape[0], width, device=flat.device).index_add_(1, buckets,
                                                                                              flat * signs))
        return torch.cat(parts, dim=1)


# ---------------------------------------------------------------- the model at one checkpoint


@dataclass
class LossSpec:
    """What a row's loss is, for one kind of run; `key` names it in the gradient cache."""

    kind: str                  # reward_model | dpo_policy
    max_length: int
    margin_used: bool = False
    center_coefficient: float = 0.0
    beta: float = 0.1

    @classmethod
    def from_record(cls, record: dict[str, Any], settings: AttributionSettings) -> LossSpec:
        config = record["config"]
        max_length = settings.max_length or int(config["max_length"])
        if record["kind"] == "dpo_policy":
            if config.get("loss_type", "sigmoid") != "sigmoid":
                raise ValueError(f"tracin and datainf score DPO runs with loss_type sigmoid; this run used "
                                 f"{config['loss_type']!r}")
            return cls("dpo_policy", max_length, beta=float(config["beta"]))
        return cls("reward_model", max_length, margin_used=bool(record["data"]["margin_used"]),
                   center_coefficient=float(config.get("center_rewards_coefficient") or 0.0))

    def row_key(self, row: PreferenceRow, *, training: bool) -> str:
        margin = (row.margin or 0.0) if (training and self.margin_used) else None
        center = self.center_coefficient if training else 0.0
        return json.dumps([self.kind, self.max_length, self.beta, center, margin, row.prompt, row.chosen,
                           row.rejected])


@dataclass
class GradientRun:
    """Everything one attribution run shares across checkpoints: tokenizer, loss, cache root, statistics."""

    model_dir: Path
    record: dict[str, Any]
    settings: AttributionSettings
    loss: LossSpec
    tokenizer: Any
    device: str
    base_hash: str = ""
    computed: int = 0
    reused: int = 0
    mode: str = ""
    layout: list[GradientBlock] = field(default_factory=list)
    _reference_logps: dict[str, tuple[float, float]] = field(default_factory=dict)
    _reference_model: Module | None = None

    @classmethod
    def open(cls, model_dir: str | Path, record: dict[str, Any], settings: AttributionSettings) -> GradientRun:
        from rlhf.models import is_adapter_folder, tokenizer_load
        from rlhf.runs import device_resolve

        model_dir = Path(model_dir)
        base_hash = ""
        if is_adapter_folder(model_dir):
            base_path = Path(record["config"]["model_path"])
            base_hash = weights_sha256(base_path) if base_path.is_dir() else str(base_path)
        return cls(model_dir, record, settings, LossSpec.from_record(record, settings), tokenizer_load(model_dir),
                   device_resolve(settings.device)["device"], base_hash)

    # -- gradients, cached

    def gradients(self, checkpoint: Checkpoint, train_rows: Sequence[PreferenceRow],
                  eval_rows: Sequence[PreferenceRow]) -> tuple[np.ndarray, np.ndarray]:
        """(training rows' gradients (n, D), mean held-out gradient (D,)) at one checkpoint."""
        cache = self._cache(checkpoint)
        keys = [self.loss.row_key(row, training=True) for row in train_rows]
        eval_keys = [self.loss.row_key(row, training=False) for row in eval_rows]
        wanted = {key: (row, True) for key, row in zip(keys, train_rows, strict=True)}
        wanted.update({key: (row, False) for key, row in zip(eval_keys, eval_rows, strict=True)})
        missing = cache.missing(list(wanted))
        self.reused += len(wanted) - len(missing)
        layout_path = self._cache_folder(cache) / "layout.json"
        if missing:
            vectors = self._compute(checkpoint, [wanted[key] for key in missing])
            cache.add(missing, vectors)
            cache.save()
            layout_path.write_text(json.dumps({"blocks": [block.as_dict() for block in self.layout],
                                               "mode": self.mode}), encoding="utf-8")
            self.computed += len(missing)
        elif not self.layout:
            saved = json.loads(layout_path.read_text(encoding="utf-8"))
            self.layout = [GradientBlock(**block) for block in saved["blocks"]]
            self.mode = saved["mode"]
        return cache.get(keys).astype(np.float64), cache.get(eval_keys).astype(np.float64).mean(axis=0)

    def _cache(self, checkpoint: Checkpoint) -> EmbeddingCache:
        identity = {"weights": weights_sha256(checkpoint.folder), "base": self.base_hash,
                    "step": checkpoint.step, "parameters": self.settings.parameters,
                    "projection_dim": self.settings.projection_dim, "seed": self.settings.seed,
                    "format": 1}
        root = Path(self.settings.cache_dir) if self.settings.cache_dir else default_gradient_cache_dir()
        return EmbeddingCache(root, hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest())

    @staticmethod
    def _cache_folder(cache: EmbeddingCache) -> Path:
        folder = cache.root / cache.encoder_id[:24]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _compute(self, checkpoint: Checkpoint, rows: list[tuple[PreferenceRow, bool]]) -> np.ndarray:
        import torch
        from torch.func import functional_call, grad, vmap

        model = self._load(checkpoint.folder)
        parameters = selected_parameters(model, self.settings.parameters, kind=self.loss.kind)
        sketch = CountSketch({name: int(value.numel()) for name, value in parameters.items()},
                             target_dim=self.settings.projection_dim, seed=self.settings.seed, device=self.device)
        self.layout = sketch.layout
        loss_of = self._loss_function(model, functional_call)
        padding_is_harmless = self._padding_is_harmless(model, parameters, loss_of, rows[0])
        self.mode = "vmap" if padding_is_harmless else "loop (right padding changes this model's outputs)"
        per_example = vmap(grad(loss_of), in_dims=(None, 0, 0, 0))
        outputs = []
        # vmap falls back to a loop inside attention kernels it has no batching rule for, and says so per call.
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
        for start in range(0, len(rows), self.settings.batch_size):
            batch = self._batch(model, rows[start:start + self.settings.batch_size])
            if padding_is_harmless:
                gradients = per_example(parameters, batch["ids"], batch["scored"], batch["extra"])
            else:
                single = [grad(loss_of)(parameters, ids[:, :width], scored[:, :width], extra, mask[:, :width])
                          for ids, scored, extra, mask, width in zip(batch["ids"], batch["scored"], batch["extra"],
                                                                     batch["mask"], batch["widths"], strict=True)]
                gradients = {name: torch.stack([item[name] for item in single]) for name in parameters}
            outputs.append(sketch(gradients).detach().cpu().numpy().astype(np.float32))
        return np.concatenate(outputs)

    # -- models and losses

    def _load(self, folder: Path) -> PreTrainedModel | PeftModel:
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        from rlhf.models import is_adapter_folder, model_placed

        model_class = (AutoModelForSequenceClassification if self.loss.kind == "reward_model"
                       else AutoModelForCausalLM)
        options: dict[str, Any] = {"num_labels": 1} if self.loss.kind == "reward_model" else {}
        model: PreTrainedModel | PeftModel
        if is_adapter_folder(folder):
            from peft import PeftModel

            base = model_class.from_pretrained(self.record["config"]["model_path"], **options)
            base.config.pad_token_id = self.tokenizer.pad_token_id
            model = PeftModel.from_pretrained(base, str(folder))
        else:
            model = model_class.from_pretrained(str(folder), **options)
        model.config.pad_token_id = self.tokenizer.pad_token_id
        return model_placed(model, self.device)

    def _loss_function(self, model: Module, functional_call: Callable[..., Any]) -> LossFunction:
        import torch
        from torch.nn.functional import logsigmoid

        loss = self.loss

        def forward(parameters: dict[str, Tensor], ids: Tensor, mask: Tensor | None) -> Tensor:
            inputs = {"input_ids": ids} if mask is None else {"input_ids": ids, "attention_mask": mask}
            logits: Tensor = functional_call(model, parameters, args=(), kwargs=inputs).logits.float()
            return logits

        if loss.kind == "reward_model":
            def reward_loss(parameters: dict[str, Tensor], ids: Tensor, scored: Tensor, extra: Tensor,
                            mask: Tensor | None = None) -> Tensor:
                rewards = forward(parameters, ids, mask).squeeze(-1)
                # extra = (margin, centring coefficient) of this row
                value = -logsigmoid(rewards[0] - rewards[1] - extra[0])
                return value + extra[1] * (rewards[0] + rewards[1]) ** 2
            return reward_loss

        def dpo_loss(parameters: dict[str, Tensor], ids: Tensor, scored: Tensor, extra: Tensor,
                     mask: Tensor | None = None) -> Tensor:
            logits = forward(parameters, ids, mask)
            token_logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            logps = (token_logps * scored[:, 1:]).sum(-1)
            # extra = reference log-likelihoods of (chosen, rejected)
            return -logsigmoid(loss.beta * ((logps[0] - extra[0]) - (logps[1] - extra[1])))
        return dpo_loss

    def _token_ids(self, row: PreferenceRow) -> tuple[list[int], list[int], int]:
        """(chosen ids, rejected ids, prompt length) as the trainer saw them."""
        if self.loss.kind == "dpo_policy":
            from rlhf.evaluate import pair_token_ids

            return pair_token_ids(self.tokenizer, row, max_length=self.loss.max_length)
        eos = self.tokenizer.eos_token or ""
        texts = [row.prompt + reply + ("" if not eos or reply.endswith(eos) else eos)
                 for reply in (row.chosen, row.rejected)]
        # Longer texts (which TRL drops from training) keep their end, where the reply is, as rlhf.evaluate does.
        chosen, rejected = (self.tokenizer(text)["input_ids"][-self.loss.max_length:] for text in texts)
        return chosen, rejected, 0

    def _batch(self, model: Module, rows: list[tuple[PreferenceRow, bool]]) -> dict[str, Any]:
        import torch

        built = [self._token_ids(row) for row, _ in rows]
        width = max(max(len(chosen), len(rejected)) for chosen, rejected, _ in built)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), 2, width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), 2, width), dtype=torch.long)
        scored = torch.zeros((len(rows), 2, width), dtype=torch.float32)
        for index, (chosen, rejected, prompt_length) in enumerate(built):
            for side, tokens in enumerate((chosen, rejected)):
                ids[index, side, :len(tokens)] = torch.tensor(tokens)
                mask[index, side, :len(tokens)] = 1
                scored[index, side, prompt_length:len(tokens)] = 1.0
        if self.loss.kind == "reward_model":
            extra = torch.tensor([[(row.margin or 0.0) if training and self.loss.margin_used else 0.0,
                                   self.loss.center_coefficient if training else 0.0] for row, training in rows])
        else:
            extra = torch.tensor(self._reference(model, [row for row, _ in rows]))
        widths = [max(len(chosen), len(rejected)) for chosen, rejected, _ in built]
        return {key: value.to(self.device) if hasattr(value, "to") else value
                for key, value in {"ids": ids, "mask": mask, "scored": scored, "extra": extra.float(),
                                   "widths": widths}.items()}

    def _reference(self, model: Module, rows: list[PreferenceRow]) -> list[tuple[float, float]]:
        """Reference log-likelihoods (chosen, rejected): the adapter-disabled policy, or the run's reference."""
        from rlhf.evaluate import pair_logps

        missing = [row for row in rows if self.loss.row_key(row, training=False) not in self._reference_logps]
        if missing:
            from peft import PeftModel

            if isinstance(model, PeftModel):
                with model.disable_adapter():
                    chosen, rejected = pair_logps(model, self.tokenizer, missing, max_length=self.loss.max_length)
            else:
                reference = self._reference_model_load()
                chosen, rejected = pair_logps(reference, self.tokenizer, missing, max_length=self.loss.max_length)
            for row, chosen_logp, rejected_logp in zip(missing, chosen.tolist(), rejected.tolist(), strict=True):
                self._reference_logps[self.loss.row_key(row, training=False)] = (chosen_logp, rejected_logp)
        return [self._reference_logps[self.loss.row_key(row, training=False)] for row in rows]

    def _reference_model_load(self) -> Module:
        if self._reference_model is None:
            from transformers import AutoModelForCausalLM

            from rlhf.models import model_placed

            config = self.record["config"]
            self._reference_model = model_placed(AutoModelForCausalLM.from_pretrained(
                config.get("ref_model_path") or config["model_path"]), self.device)
        return self._reference_model

    def _padding_is_harmless(self, model: Module, parameters: dict[str, Tensor], loss_of: LossFunction,
                             example: tuple[PreferenceRow, bool]) -> bool:
        """Does padding on the right, unmasked, leave a row's loss as it is with the attention mask?"""
        import torch

        batch = self._batch(model, [example])
        ids, scored, extra = batch["ids"][0], batch["scored"][0], batch["extra"][0]
        padded_ids = torch.nn.functional.pad(ids, (0, 3), value=self.tokenizer.pad_token_id or 0)
        padded_scored = torch.nn.functional.pad(scored, (0, 3))
        with torch.no_grad():
            masked = loss_of(parameters, ids, scored, extra, batch["mask"][0])
            unmasked = loss_of(parameters, padded_ids, padded_scored, extra)
        return bool(torch.allclose(masked, unmasked, rtol=1e-4, atol=1e-5))


def selected_parameters(model: Module, pattern: str, *, kind: str) -> dict[str, Tensor]:
    """name -> detached tensor of the parameters whose gradients count (see AttributionSettings.parameters)."""
    names = [name for name, _ in model.named_parameters()]
    if pattern == "auto":
        if any("lora_" in name for name in names):
            chosen = [name for name in names if "lora_" in name or "modules_to_save" in name]
        else:
            layers = [int(match.group(1)) for name in names if (match := LAYER_INDEX.search(name))]
            last_layer = f".{max(layers)}." if layers else None
            head = re.compile(r"(^|\.)score\." if kind == "reward_model" else r"(^|\.)(norm|ln_f|final_layer_norm)\.")
            chosen = [name for name in names if head.search(name) and not LAYER_INDEX.search(name)
                      or (last_layer and (match := LAYER_INDEX.search(name)) and f".{match.group(1)}." == last_layer)]
    else:
        chosen = [name for name in names if re.search(pattern, name)]
    if not chosen:
        raise ValueError(f"no parameter name matches {pattern!r}; names look like {names[:3]}")
    values = dict(model.named_parameters())
    return {name: values[name].detach() for name in chosen}


# ---------------------------------------------------------------- the two methods on transformer runs


def tracin(model_dir: str | Path, record: dict[str, Any], train_rows: Sequence[PreferenceRow],
           eval_rows: Sequence[PreferenceRow], settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """sum over checkpoints c of (sum of learning rates c stands for) / n x g_i(c) . g_eval(c).

    One optimizer step moves the parameters by -lr x (mean gradient of its batch), so row i, in a batch with
    probability batch/n, contributes lr/n x g_i per step in expectation. Adam's per-parameter scaling is not
    modelled (TracIn's usual simplification).
    """
    run = GradientRun.open(model_dir, record, settings)
    checkpoints = run_checkpoints(model_dir, record, which=settings.checkpoints)
    scores = np.zeros(len(train_rows))
    for checkpoint in checkpoints:
        train_gradients, eval_gradient = run.gradients(checkpoint, train_rows, eval_rows)
        scores += checkpoint.learning_rate_sum / len(train_rows) * (train_gradients @ eval_gradient)
    return scores, {**_gradient_details(run), "checkpoints": [c.as_dict() for c in checkpoints]}


def datainf(model_dir: str | Path, record: dict[str, Any], train_rows: Sequence[PreferenceRow],
            eval_rows: Sequence[PreferenceRow], settings: AttributionSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """DataInf at the final model, one block per parameter tensor (a LoRA A or B matrix, the score head)."""
    run = GradientRun.open(model_dir, record, settings)
    final = run_checkpoints(model_dir, record, which="final")[-1]
    train_gradients, eval_gradient = run.gradients(final, train_rows, eval_rows)
    scores, lambdas = datainf_scores(train_gradients, eval_gradient, run.layout, damping=settings.damping)
    return scores, {**_gradient_details(run), "lambda_mean": float(np.mean(lambdas)), "layers": len(lambdas)}


def _gradient_details(run: GradientRun) -> dict[str, Any]:
    return {"gradient_rows_computed": run.computed, "gradient_rows_from_cache": run.reused,
            "per_example_gradients": run.mode or "all from cache",
            "gradient_dimension": run.layout[-1].stop if run.layout else 0,
            "parameters": sum(block.parameters for block in run.layout), "blocks": len(run.layout),
            "loss": run.loss.kind, "max_length": run.loss.max_length}
