"""Tiny local models and a trivially learnable preference, for tests and demos that must run offline in seconds.

    python -m rlhf tiny-model --out var/tiny-llama

`tiny_model_build` trains a small byte-level BPE tokenizer with `tokenizers` and saves it next to a freshly
initialised 2-layer Llama (or Qwen2) causal LM. The folder loads by path with `AutoTokenizer`,
`AutoModelForCausalLM` and `AutoModelForSequenceClassification(num_labels=1)` (which adds a new `score` head).

`marker_preference_rows` builds pairs where the reply containing a marker word always wins: a model that
learns anything learns it, and one that learns nothing stays at chance.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rlhf.data import PreferenceRow

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# Special tokens of the tiny tokenizer. No chat template: prompts and replies are plain text.
PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
BOS_TOKEN = "<s>"
UNK_TOKEN = "<unk>"

_FILLER_WORDS = (
    "the a one some many river stone cloud paper window garden yellow quiet rapid little green bright "
    "table music winter summer morning evening answer question simple careful maybe always never often "
    "north south market letter number story teacher doctor engine planet ocean forest mountain city"
).split()
_TOPICS = "weather cooking travel history music gardens planets rivers markets engines".split()


def tiny_model_build(
    out_dir: str | Path,
    *,
    texts: Sequence[str] | None = None,
    architecture: str = "llama",
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 512,
    intermediate_size: int | None = None,
    seed: int = 0,
) -> Path:
    """Train a BPE tokenizer on `texts` (synthetic text if None), build a tiny causal LM, save both to `out_dir`.

    Returns the folder. Deterministic for a given seed and text.
    """
    import torch
    import transformers

    if architecture not in ("llama", "qwen2"):
        raise ValueError(f"architecture must be 'llama' or 'qwen2', got {architecture!r}")
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = tiny_tokenizer_train(texts if texts is not None else synthetic_texts(seed=seed),
                                     vocab_size=vocab_size)
    config_class = transformers.LlamaConfig if architecture == "llama" else transformers.Qwen2Config
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = (transformers.LlamaForCausalLM(config) if isinstance(config, transformers.LlamaConfig)
             else transformers.Qwen2ForCausalLM(config))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_tokenizer_train(texts: Sequence[str], *, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (any text encodes, nothing is unknown) wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, EOS_TOKEN, BOS_TOKEN, UNK_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        bos_token=BOS_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=4096,
    )


def synthetic_texts(*, seed: int = 0, count: int = 400, marker: str = "banana") -> list[str]:
    """Text for the tokenizer: the prompts and replies `marker_preference_rows` produces, so its words merge."""
    rows = marker_preference_rows(count, seed=seed, marker=marker)
    return [row.prompt + row.chosen for row in rows] + [row.prompt + row.rejected for row in rows]


def marker_preference_rows(
    count: int, *, seed: int = 0, marker: str = "banana", with_margin: bool = False
) -> list[PreferenceRow]:
    """`count` pairs where the chosen reply contains `marker` (at a random place) and the rejected one does not.

    Both replies draw their other words from the same vocabulary and lengths, so the marker is the only signal.
    """
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        prompt = f"Question: tell me about {rng.choice(_TOPICS)}.\nAnswer:"
        chosen_words = [rng.choice(_FILLER_WORDS) for _ in range(rng.randint(4, 8))]
        chosen_words.insert(rng.randint(0, len(chosen_words)), marker)
        rejected_words = [rng.choice(_FILLER_WORDS) for _ in range(len(chosen_words))]
        rows.append(PreferenceRow(
            row_id=f"marker-{seed}-{index}",
            prompt=prompt,
            chosen=" " + " ".join(chosen_words),
            rejected=" " + " ".join(rejected_words),
            margin=round(rng.uniform(0.0, 1.0), 3) if with_margin else None,
            judgment_ids=(index,),
            contributor_ids=(f"contributor-{index % 5}",),
        ))
    return rows
