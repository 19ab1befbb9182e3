"""Candidate replies for the online loop: deterministic per prompt, refused before running when the model or the
settings cannot work, and turned into comparisons without identical pairs."""

import json

import pytest

from rlhf.fields import ConfigError
from rlhf.generation import GenerationSettings, Generator, generation_check, pairs_of, prompt_seed

PROMPT = "\n\nHuman: Tell me about fruit.\n\nAssistant:"


def test_replies_are_fixed_by_the_seed_and_the_prompt_id_alone(tiny_model_dir):
    settings = GenerationSettings(replies_per_prompt=3, max_new_tokens=6, temperature=1.0, seed=5)
    generator = Generator(tiny_model_dir, settings, device="cpu")
    first = generator.replies("p1", PROMPT)
    generator.replies("p2", PROMPT)  # another prompt in between changes nothing: each prompt has its own seed
    assert generator.replies("p1", PROMPT) == first and len(first) == 3
    assert Generator(tiny_model_dir, GenerationSettings(replies_per_prompt=3, max_new_tokens=6, seed=6),
                     device="cpu").replies("p1", PROMPT) != first
    assert prompt_seed(5, "p1") != prompt_seed(5, "p2")


def test_a_prompt_longer_than_the_context_leaves_is_cut_from_the_left_and_counted(tiny_model_dir):
    generator = Generator(tiny_model_dir, GenerationSettings(replies_per_prompt=1, max_new_tokens=4, temperature=0),
                          device="cpu")
    assert len(generator.replies("long", PROMPT * 400)) == 1
    assert generator.prompts_cut == 1


def test_a_model_that_is_not_a_causal_lm_is_refused_naming_it(tmp_path, tiny_model_dir):
    reward = tmp_path / "rm"
    reward.mkdir()
    (reward / "run.json").write_text(json.dumps({"kind": "reward_model", "config": {}}))
    with pytest.raises(ConfigError, match="rm holds a reward_model run, not a causal LM"):
        generation_check(reward, GenerationSettings())
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(ConfigError, match="encoder is a BertModel, not a causal LM"):
        generation_check(encoder, GenerationSettings())
    with pytest.raises(ConfigError, match="no run.json or config.json"):
        generation_check(tmp_path / "nothing", GenerationSettings())


def test_max_new_tokens_beyond_the_context_is_refused_before_anything_loads(tiny_model_dir):
    context = json.loads((tiny_model_dir / "config.json").read_text())["max_position_embeddings"]
    with pytest.raises(ConfigError, match=f"max_new_tokens must leave room for a prompt in the model's context of {context}"):
        generation_check(tiny_model_dir, GenerationSettings(max_new_tokens=context))


@pytest.mark.parametrize(("values", "message"), [
    ({"replies_per_prompt": 0}, r"replies_per_prompt must be in \[1, 16\], got 0"),
    ({"temperature": 3.0}, r"temperature must be in \[0, 2\], got 3.0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
    ({"temperature": 0.0, "replies_per_prompt": 2}, "replies_per_prompt must be 1 when temperature is 0"),
])
def test_bad_settings_are_refused_naming_the_field(values, message):
    with pytest.raises(ConfigError, match=message):
        GenerationSettings(**values)


def test_pairs_of_one_or_two_models_leave_identical_replies_out():
    assert pairs_of([["x", "y", "z"]]) == [((0, 0), (0, 1)), ((0, 0), (0, 2)), ((0, 1), (0, 2))]
    assert pairs_of([["x", "x", "z"]]) == [((0, 0), (0, 2)), ((0, 1), (0, 2))]
    assert pairs_of([["x", "y"], ["x", "w"]]) == [((0, 1), (1, 1))]
    with pytest.raises(ValueError, match="one or two models"):
        pairs_of([["x"], ["y"], ["z"]])
