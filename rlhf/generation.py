"""Candidate replies from the current policy, the first step of each round of the online loop (the site's
generation jobs run it: `manage.py generate_replies`).

A `Generator` loads one causal LM (a `dpo_policy` run folder, full or LoRA, or a plain causal-LM folder such as a
base model) and samples `replies_per_prompt` replies to each prompt with the `GenerationSettings` recorded beside
them. Each prompt's replies are drawn from a seed of their own, `prompt_seed(settings.seed, prompt_id)`, so a job
that stops and resumes, or runs its prompts in another order, produces the replies an uninterrupted run would.

What is refused before anything runs, naming the field (ConfigError): a model that is not a causal LM (a reward
model, a linear head, an encoder), a `max_new_tokens` that leaves no room for a prompt in the model's context.
A prompt longer than the context leaves room for is cut from the left (its last turns are kept, as in training),
and the generator says how many were cut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlhf.fields import ConfigError, fields_validate, require, setting
from rlhf.runs import device_resolve

# Fewest prompt tokens a generation leaves room for: a max_new_tokens that leaves less is refused.
MIN_PROMPT_TOKENS = 8


@dataclass(frozen=True)
class GenerationSettings:
    """How candidate replies are sampled; recorded with every reply they produce."""

    replies_per_prompt: int = setting(2, "Replies sampled per prompt and model (k).", minimum=1, maximum=16)
    max_new_tokens: int = setting(64, "Most tokens of one reply.", minimum=1, maximum=4096, unit="tokens")
    temperature: float = setting(1.0, "Sampling temperature; 0 is greedy (then every reply to a prompt is the same).",
                                 minimum=0, maximum=2)
    top_p: float = setting(1.0, "Nucleus sampling: the smallest set of tokens whose probability reaches this.",
                           above=0, maximum=1)
    seed: int = setting(0, "Seed of the sampling; each prompt draws from a seed derived from this and its id.",
                        minimum=0)

    def __post_init__(self) -> None:
        fields_validate(self)
        require(self.temperature > 0 or self.replies_per_prompt == 1, "replies_per_prompt",
                "must be 1 when temperature is 0 (greedy decoding gives one reply per prompt)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_seed(seed: int, prompt_id: str) -> int:
    """The seed one prompt's replies are drawn from: fixed by the job's seed and the prompt's id alone."""
    digest = hashlib.sha256(f"{seed}\x1f{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class ModelKind:
    """What a folder holds, as far as generation is concerned."""

    kind: str                # dpo_policy, causal_lm, or what it is instead (reward_model, linear_head, ...)
    adapter: bool
    context: int


def model_kind(path: str | Path, *, name: str | None = None) -> ModelKind:
    """Reads a model folder's run.json or config.json without loading weights. ConfigError (field `model`) when
    the folder holds no model or not a causal LM; the message calls the model `name` (a registered version's name,
    say) or else the folder's name."""
    folder = Path(path)
    name = name or folder.name
    run = folder / "run.json"
    if run.is_file():
        record = json.loads(run.read_text(encoding="utf-8"))
        kind = record.get("kind", "")
        if kind != "dpo_policy":
            raise ConfigError(f"model {name} holds a {kind or 'unknown'} run, not a causal LM policy: "
                              "generation needs a DPO policy or a causal-LM base model")
        adapter = (folder / "adapter_config.json").is_file()
        base = Path(record["config"]["model_path"]) if adapter else folder
        return ModelKind("dpo_policy", adapter, _context_of(base))
    if not (folder / "config.json").is_file():
        raise ConfigError(f"model {folder}: no run.json or config.json, so no model to generate with")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    if not any(arch.endswith("ForCausalLM") or arch.endswith("LMHeadModel") for arch in architectures):
        raise ConfigError(f"model {name} is a {', '.join(architectures) or config.get('model_type', '?')}, "
                          "not a causal LM: generation needs a DPO policy or a causal-LM base model")
    return ModelKind("causal_lm", False, _context_of(folder))


def _context_of(folder: Path) -> int:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return int(config.get("max_position_embeddings") or config.get("n_positions") or 2048)


def generation_check(path: str | Path, settings: GenerationSettings, *, name: str | None = None) -> ModelKind:
    """Everything that can be refused before a job is queued: the model's kind, and max_new_tokens against its
    context (`name`: what messages call the model)."""
    kind = model_kind(path, name=name)
    require(settings.max_new_tokens <= kind.context - MIN_PROMPT_TOKENS, "max_new_tokens",
            f"must leave room for a prompt in the model's context of {kind.context} tokens "
            f"(at most {kind.context - MIN_PROMPT_TOKENS}), got {settings.max_new_tokens}")
    return kind


class Generator:
    """One loaded causal LM sampling replies; `replies(prompt_id, prompt)` is deterministic given the settings."""

    def __init__(self, path: str | Path, settings: GenerationSettings, *, device: str = "auto"):
        from transformers import AutoModelForCausalLM

        from rlhf.models import dpo_models_load, tokenizer_load

        self.kind = generation_check(path, settings)
        self.settings = settings
        self.path = str(path)
        self.prompts_cut = 0
        if self.kind.kind == "dpo_policy":
            self.model, _reference, self.tokenizer, _record = dpo_models_load(path, device=device)
        else:
            self.tokenizer = tokenizer_load(path)
            self.model = AutoModelForCausalLM.from_pretrained(str(path))
            self.model.to(device_resolve(device)["device"])
            self.model.eval()
        self.device = next(self.model.parameters()).device

    def replies(self, prompt_id: str, prompt: str) -> list[str]:
        import torch

        settings = self.settings
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        room = self.kind.context - settings.max_new_tokens
        if ids.shape[1] > room:
            ids = ids[:, -room:]  # keep the last turns, as training does
            self.prompts_cut += 1
        ids = ids.to(self.device)
        sampling: dict[str, Any] = ({"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
                                    if settings.temperature > 0 else {"do_sample": False})
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(prompt_seed(settings.seed, prompt_id))
        try:
            with torch.no_grad():
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                          max_new_tokens=settings.max_new_tokens,
                                          num_return_sequences=settings.replies_per_prompt,
                                          pad_token_id=self.tokenizer.pad_token_id, **sampling)
        finally:
            torch.random.set_rng_state(generator_state)
        return [self.tokenizer.decode(row[ids.shape[1]:], skip_special_tokens=True) for row in out]


def pairs_of(sources: Sequence[Sequence[str]]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Which replies of one prompt become comparisons, as ((source, index), (source, index)) pairs. One source
    (one model): every pair of its replies. Two sources (two model versions, or a policy and a reference): the
    i-th reply of the first against the i-th of the second, so each comparison pits one model against the other.
    Two replies with the same text make no comparison (nobody can prefer one)."""
    if len(sources) == 1:
        count = len(sources[0])
        pairs = [((0, i), (0, j)) for i in range(count) for j in range(i + 1, count)]
    elif len(sources) == 2:
        pairs = [((0, i), (1, i)) for i in range(min(len(sources[0]), len(sources[1])))]
    else:
        raise ValueError(f"sources: one or two models, got {len(sources)}")
    return [(x, y) for x, y in pairs if sources[x[0]][x[1]] != sources[y[0]][y[1]]]
