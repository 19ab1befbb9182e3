"""Tiny local models: built offline in seconds, loadable by path as causal LM and as reward model."""

from __future__ import annotations

import time

import pytest

from rlhf.tiny import marker_preference_rows, tiny_model_build


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_tiny_model_loads_as_causal_lm_and_as_reward_model(tmp_path, architecture):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    started = time.monotonic()
    folder = tiny_model_build(tmp_path / architecture, architecture=architecture, hidden_size=32)
    assert time.monotonic() - started < 5
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "</s>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.chat_template is None
    text = "Question: tell me about rivers.\nAnswer: banana stone"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: nothing is lost

    causal = AutoModelForCausalLM.from_pretrained(str(folder))
    assert causal.config.num_hidden_layers == 2 and causal.config.hidden_size == 32
    batch = tokenizer([text, "short"], padding=True, return_tensors="pt")
    assert causal(**batch).logits.shape[-1] == causal.config.vocab_size
    reward = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1)
    with torch.no_grad():
        assert reward(**batch).logits.shape == (2, 1)


def test_tiny_model_is_reproducible_from_its_seed(tmp_path):
    from safetensors.numpy import load_file

    first = load_file(str(tiny_model_build(tmp_path / "a", seed=3) / "model.safetensors"))
    second = load_file(str(tiny_model_build(tmp_path / "b", seed=3) / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all((first[name] == second[name]).all() for name in first)


def test_marker_rows_carry_the_marker_only_in_the_chosen_reply():
    rows = marker_preference_rows(50, seed=4, marker="banana", with_margin=True)
    assert len({row.row_id for row in rows}) == 50
    assert all("banana" in row.chosen and "banana" not in row.rejected for row in rows)
    assert all(len(row.chosen.split()) == len(row.rejected.split()) for row in rows)
    assert all(row.margin is not None and 0 <= row.margin <= 1 for row in rows)
    assert rows == marker_preference_rows(50, seed=4, marker="banana", with_margin=True)
