"""Serving trained versions: many LoRA adapters on one loaded base model, least-recently-used out.

    pool = ServingPool(memory_budget_bytes=2 << 30)
    version = served_version("rm-3", "runs/rm-3")         # reads run.json and adapter_config.json
    pool.score(version, prompt, ["reply a", "reply b"])   # reward model: one score per reply
    pool.generate(version, prompt, max_tokens=64, temperature=0.7, seed=1)   # DPO policy

One base model is loaded per (base path, head): sequence classification for reward models, a causal LM for
DPO policies. A LoRA version is an adapter on that base (peft's multi-adapter model: `load_adapter` on first
use, `delete_adapter` on eviction). Each request selects its adapter on every adapter layer itself
(`pool._adapter_select`), because peft's `set_adapter` costs more the more adapters are loaded. A reward
adapter carries its own score head (peft's modules_to_save), switched with it. A version trained without LoRA is loaded whole. What is loaded
counts against `memory_budget_bytes` (parameter bytes of adapters and whole models; bases are not evicted);
the least recently used versions are evicted until a new one fits. Calls are serialised by a lock: a
request's adapter stays selected for its whole forward pass.

For GPUs and scale-out, `VllmEngine` (in `rlhf.serving.vllm`) sends generation to vLLM's OpenAI-compatible
server with LoRA enabled instead; see its docstring for how to start one.
"""

from rlhf.serving.pool import (
    AdapterBaseMismatch,
    ServedVersion,
    ServingInputError,
    ServingPool,
    served_version,
)

__all__ = ["AdapterBaseMismatch", "ServedVersion", "ServingInputError", "ServingPool", "served_version"]
