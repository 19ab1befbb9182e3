"""The embedded engine: `ServingPool` (see the package docstring for what it loads and evicts)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlhf.models import ADAPTER_CONFIG, is_adapter_folder, tokenizer_load
from rlhf.runs import run_json_read

HEADS = {"reward_model": "sequence_classification", "dpo_policy": "causal_lm"}
MAX_TEMPERATURE = 2.0


class ServingInputError(ValueError):
    """A request the engine cannot serve as asked: `field` names what to change (a 400 on the site)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AdapterBaseMismatch(ValueError):
    """An adapter trained on another base than the one this pool serves its kind on."""

    def __init__(self, version_id: str, adapter_base: str, loaded_base: str):
        super().__init__(
            f"{version_id}: its adapter was trained on {adapter_base!r}, but this server's base for its kind is "
            f"{loaded_base!r}; serve it on its own base or retrain it on the loaded one"
        )
        self.adapter_base = adapter_base
        self.loaded_base = loaded_base


@dataclass(frozen=True)
class ServedVersion:
    """What the engine needs of a trained version: its id, run folder, kind, and base (for an adapter)."""

    version_id: str
    path: str
    kind: str
    adapter: bool
    base: str  # the base model an adapter belongs to; for a whole model, its own folder


def served_version(version_id: str, path: str | Path) -> ServedVersion:
    """Describe a run folder written by `python -m rlhf train-reward/train-dpo` for serving."""
    record = run_json_read(path)
    if record["kind"] not in HEADS:
        raise ServingInputError("model_version", f"a {record['kind']} cannot be served; serve a reward model or a DPO policy")
    adapter = is_adapter_folder(path)
    if adapter:
        base = json.loads((Path(path) / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    else:
        base = str(path)
    return ServedVersion(str(version_id), str(path), record["kind"], adapter, _same_path(base))


def _same_path(path: str) -> str:
    """A local folder by its resolved path (so two spellings of one folder are one base); a hub id as given."""
    local = Path(path)
    return str(local.resolve()) if local.exists() else path


def _adapter_name(version: ServedVersion) -> str:
    # Never a substring of peft's "lora_" prefix (a name like "a" is, and peft then mis-loads the weights).
    return f"served-{version.version_id}"


# What a saved tokenizer is made of (transformers writes some of these, by tokenizer class).
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                    "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "spiece.model", "chat_template.jinja")


def _tokenizer_key(path: str) -> str:
    """The content hash of a version's tokenizer files. Adapters trained on one base save byte-identical ones, and a
    tokenizer of a real vocabulary holds tens of MB in memory, so versions with one key share one loaded tokenizer.
    A folder without any of these files is keyed by its path (its tokenizer loads from elsewhere)."""
    digest = hashlib.sha256()
    found = False
    for name in _TOKENIZER_FILES:
        file = Path(path) / name
        if file.is_file():
            found = True
            digest.update(name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest() if found else f"path:{_same_path(path)}"


def _parameter_bytes(model: Any) -> int:
    return sum(parameter.numel() * parameter.element_size() for parameter in model.parameters())


def _adapter_bytes(model: Any, name: str) -> int:
    """Bytes of the weights peft holds for adapter `name`: its LoRA matrices and its own copy of each saved module
    (a reward model's score head), all named `...<module>.<name>.<weight>`."""
    marker = f".{name}."
    return sum(p.numel() * p.element_size() for key, p in model.named_parameters() if marker in key)


@dataclass
class _Base:
    model: Any  # the PeftModel wrapping the base
    adapters: set[str]
    layers: list[Any] = field(default_factory=list)  # its adapter layers, listed again after each load or eviction
    active: str | None = None  # the adapter the layers run, as _adapter_select left them

    def layers_list(self) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import AuxiliaryTrainingWrapper  # the score head each reward adapter saves

        self.layers = [m for m in self.model.modules() if isinstance(m, (BaseTunerLayer, AuxiliaryTrainingWrapper))]
        self.active = None


def _adapter_select(base: _Base, name: str) -> None:
    """Make `name` the adapter that the next call on `base` runs.

    peft's `set_adapter` walks every module and, in each adapter layer, sets `requires_grad` on every loaded
    adapter's weights: the cost of each switch grows with the number of adapters loaded. Serving computes no
    gradients (the weights stay frozen as loaded), so this sets only which adapter each layer runs, over the
    layers listed once per load or eviction. peft keeps that choice in `_active_adapter` on each layer and
    `active_adapter` on the tuner; tests/rlhf/serving/test_pool.py checks every adapter still scores as it does
    alone, through loads and evictions."""
    if base.active == name:
        return
    for layer in base.layers:
        layer._active_adapter = name
    base.model.base_model.active_adapter = name
    base.active = name


class ServingPool:
    """Scores and generates with served versions, loading each on first use (thread-safe)."""

    def __init__(self, *, memory_budget_bytes: int, device: str = "cpu", base_models: dict[str, str] | None = None):
        if memory_budget_bytes <= 0:
            raise ValueError(f"memory_budget_bytes: must be > 0, got {memory_budget_bytes}")
        self.memory_budget_bytes = memory_budget_bytes
        self.device = device
        # kind -> the base it is served on: given, or the first adapter's base of that kind.
        self.base_models = {kind: _same_path(path) for kind, path in (base_models or {}).items()}
        self._bases: dict[tuple[str, str], _Base] = {}
        self._whole: dict[str, Any] = {}
        self._tokenizers: dict[str, Any] = {}  # by _tokenizer_key: versions with the same tokenizer share one
        self._tokenizer_keys: dict[str, str] = {}  # version id -> its tokenizer's key
        self._loaded: OrderedDict[str, tuple[ServedVersion, int]] = OrderedDict()  # LRU: oldest first
        self._lock = threading.Lock()

    # --- what is loaded ---------------------------------------------------------------------

    @property
    def loaded_versions(self) -> list[str]:
        """Loaded version ids, least recently used first."""
        return list(self._loaded)

    @property
    def loaded_bytes(self) -> int:
        return sum(size for _, size in self._loaded.values())

    def registration_check(self, version: ServedVersion) -> None:
        """Refuse an adapter whose base differs from the base this pool serves its kind on."""
        if not version.adapter:
            return
        loaded = self.base_models.get(version.kind)
        if loaded is not None and loaded != version.base:
            raise AdapterBaseMismatch(version.version_id, version.base, loaded)

    def _model(self, version: ServedVersion) -> tuple[Any, bool]:
        """The model to run `version` on, selected, and whether it had to be loaded. Under the lock."""
        if version.version_id in self._loaded:
            self._loaded.move_to_end(version.version_id)
            loaded = False
        else:
            self.registration_check(version)
            size = self._adapter_load(version) if version.adapter else self._whole_load(version)
            self._loaded[version.version_id] = (version, size)
            self._evict_beyond_budget(keep=version.version_id)
            loaded = True
        if not version.adapter:
            return self._whole[version.version_id], loaded
        base = self._bases[(version.base, version.kind)]
        _adapter_select(base, _adapter_name(version))
        return base.model, loaded

    def _base_load(self, version: ServedVersion) -> Any:
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        tokenizer = self._tokenizer(version)
        if version.kind == "reward_model":
            model = AutoModelForSequenceClassification.from_pretrained(version.base, num_labels=1)
            model.config.pad_token_id = tokenizer.pad_token_id
        else:
            model = AutoModelForCausalLM.from_pretrained(version.base)
        return model.to(self.device).eval()

    def _adapter_load(self, version: ServedVersion) -> int:
        from peft import PeftModel

        self.base_models.setdefault(version.kind, version.base)
        key = (version.base, version.kind)
        base = self._bases.get(key)
        name = _adapter_name(version)
        if base is None:
            wrapped = PeftModel.from_pretrained(self._base_load(version), version.path, adapter_name=name)
            self._bases[key] = base = _Base(wrapped.to(self.device).eval(), set())
        else:
            # peft puts the weights on the device and the model in eval mode; a walk of the whole model here would
            # make each load slower the more adapters are loaded.
            base.model.load_adapter(version.path, adapter_name=name, torch_device=self.device)
        base.adapters.add(version.version_id)
        base.layers_list()
        return _adapter_bytes(base.model, name)

    def _whole_load(self, version: ServedVersion) -> int:
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        tokenizer = self._tokenizer(version)
        if version.kind == "reward_model":
            model = AutoModelForSequenceClassification.from_pretrained(version.path, num_labels=1)
            model.config.pad_token_id = tokenizer.pad_token_id
        else:
            model = AutoModelForCausalLM.from_pretrained(version.path)
        self._whole[version.version_id] = model.to(self.device).eval()
        return _parameter_bytes(model)

    def _evict_beyond_budget(self, *, keep: str) -> None:
        while self.loaded_bytes > self.memory_budget_bytes and len(self._loaded) > 1:
            oldest = next(iter(self._loaded))
            if oldest == keep:
                break
            self.evict(oldest)

    def evict(self, version_id: str) -> None:
        """Unload a version (its adapter, or its whole model). The last adapter on a base takes the base
        with it: peft's wrapper cannot be emptied, and the next use loads it afresh."""
        version, _ = self._loaded.pop(version_id)
        if not version.adapter:
            del self._whole[version_id]
            return
        key = (version.base, version.kind)
        base = self._bases[key]
        base.adapters.discard(version_id)
        if base.adapters:
            base.model.delete_adapter(_adapter_name(version))
            base.layers_list()
        else:
            del self._bases[key]

    def _tokenizer(self, version: ServedVersion) -> Any:
        key = self._tokenizer_keys.get(version.version_id)
        if key is None:
            key = self._tokenizer_keys[version.version_id] = _tokenizer_key(version.path)
        if key not in self._tokenizers:
            self._tokenizers[key] = tokenizer_load(version.path)
        return self._tokenizers[key]

    # --- calls ------------------------------------------------------------------------------

    def score(self, version: ServedVersion, prompt: str, replies: list[str]) -> dict[str, Any]:
        """A reward model's score of each reply to the prompt: {scores, tokens_in, loaded, seconds}."""
        import torch

        _require_kind(version, "reward_model", "score")
        if not isinstance(prompt, str) or not prompt:
            raise ServingInputError("prompt", "required, a non-empty string")
        if not isinstance(replies, list) or not replies or not all(isinstance(r, str) for r in replies):
            raise ServingInputError("replies", "a list of one or more strings")
        started = time.perf_counter()
        with self._lock:
            model, loaded = self._model(version)
            tokenizer = self._tokenizer(version)
            context = _context_length(model)
            eos = tokenizer.eos_token or ""
            encoded = [tokenizer(prompt + reply + eos)["input_ids"] for reply in replies]
            longest = max(len(ids) for ids in encoded)
            if longest > context:
                raise ServingInputError("prompt", f"prompt and reply take {longest} tokens, over the model's context of {context}")
            batch = tokenizer([prompt + reply + eos for reply in replies], padding=True, return_tensors="pt")
            with torch.no_grad():
                scores = model(**batch.to(self.device)).logits.squeeze(-1).float().cpu().tolist()
        return {"scores": [float(s) for s in scores], "tokens_in": sum(len(ids) for ids in encoded), "tokens_out": 0,
                "loaded": loaded, "seconds": time.perf_counter() - started}

    def generate(self, version: ServedVersion, prompt: str, *, max_tokens: int, temperature: float = 1.0,
                 seed: int = 0) -> dict[str, Any]:
        """A DPO policy's reply: {text, tokens_in, tokens_out, loaded, seconds}. Temperature 0 is greedy; the
        same seed gives the same reply."""
        import torch

        _require_kind(version, "dpo_policy", "generate")
        if not isinstance(prompt, str) or not prompt:
            raise ServingInputError("prompt", "required, a non-empty string")
        sampling_check(max_tokens, temperature)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ServingInputError("seed", f"an integer >= 0, got {seed!r}")
        started = time.perf_counter()
        with self._lock:
            model, loaded = self._model(version)
            tokenizer = self._tokenizer(version)
            context = _context_length(model)
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.device)
            room = context - ids.shape[1]
            if room < 1:
                raise ServingInputError("prompt", f"{ids.shape[1]} tokens fill the model's context of {context}")
            if max_tokens > room:
                raise ServingInputError("max_tokens", f"{max_tokens} is more than the {room} tokens the context leaves after the prompt")
            torch.manual_seed(seed)
            sampling = {"do_sample": True, "temperature": float(temperature)} if temperature > 0 else {"do_sample": False}
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                     pad_token_id=tokenizer.pad_token_id, **sampling)
        new = out[0, ids.shape[1]:]
        return {"text": tokenizer.decode(new, skip_special_tokens=True), "tokens_in": int(ids.shape[1]),
                "tokens_out": int(new.shape[0]), "loaded": loaded, "seconds": time.perf_counter() - started}


def sampling_check(max_tokens: Any, temperature: Any) -> None:
    """The generation settings every engine accepts: max_tokens >= 1, temperature in [0, MAX_TEMPERATURE]."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ServingInputError("max_tokens", f"an integer >= 1, got {max_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise ServingInputError("temperature", f"a number in [0, {MAX_TEMPERATURE}], got {temperature!r}")


def _require_kind(version: ServedVersion, kind: str, operation: str) -> None:
    if version.kind != kind:
        raise ServingInputError("model_version", f"{version.version_id} is a {version.kind}; {operation} needs a {kind}")


def _context_length(model: Any) -> int:
    config = model.config
    return int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 0) or 2048)
