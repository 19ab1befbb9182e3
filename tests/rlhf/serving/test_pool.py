"""The embedded serving engine on tiny local models: many adapters on one base, LRU under a budget."""

import threading
from pathlib import Path

import pytest

from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
from rlhf.dpo import dpo_train
from rlhf.evaluate import reward_scores
from rlhf.models import reward_model_load
from rlhf.reward import reward_train
from rlhf.serving import AdapterBaseMismatch, ServingInputError, ServingPool, served_version
from rlhf.tiny import marker_preference_rows, tiny_model_build

pytestmark = pytest.mark.slow
PROMPT = "\n\nHuman: Tell me about fruit.\n\nAssistant:"
REPLIES = [" I like a banana.", " Apples are red."]


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """A tiny base, two LoRA reward models trained on it (different data), a whole reward model, a LoRA
    DPO policy, and an adapter trained on another base."""
    root = tmp_path_factory.mktemp("serving")
    base = tiny_model_build(root / "base", seed=0)
    other = tiny_model_build(root / "other-base", seed=1)
    made = {}
    for name, seed, lora, model in (("rm-a", 1, True, base), ("rm-b", 2, True, base), ("rm-whole", 3, False, base),
                                    ("rm-other", 4, True, other)):
        reward_train(RewardTrainingConfig(model_path=str(model), output_dir=str(root / name), lora=lora, max_steps=3,
                                          learning_rate=5e-3, device="cpu", eval_fraction=0.0, seed=seed),
                     rows=marker_preference_rows(24, seed=seed))
        made[name] = root / name
    dpo_train(DPOTrainingConfig(model_path=str(base), output_dir=str(root / "dpo-a"), lora=True, max_steps=1,
                                device="cpu", eval_fraction=0.0), rows=marker_preference_rows(16, seed=5))
    made["dpo-a"] = root / "dpo-a"
    made["base"] = base
    return made


def alone(path: Path) -> list[float]:
    model, tokenizer, _ = reward_model_load(path, device="cpu")
    return reward_scores(model, tokenizer, [PROMPT] * len(REPLIES), REPLIES, max_length=512).tolist()


def test_adapters_share_one_base_and_each_scores_as_its_own_run_alone(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    a, b = served_version("a", runs["rm-a"]), served_version("b", runs["rm-b"])
    assert a.adapter and a.base == b.base == str(Path(runs["base"]).resolve())
    first = pool.score(a, PROMPT, REPLIES)
    second = pool.score(b, PROMPT, REPLIES)
    again = pool.score(a, PROMPT, REPLIES)
    assert first["loaded"] and second["loaded"] and not again["loaded"]
    assert first["scores"] == pytest.approx(alone(runs["rm-a"]), abs=1e-4)
    assert second["scores"] == pytest.approx(alone(runs["rm-b"]), abs=1e-4)
    assert again["scores"] == pytest.approx(first["scores"], abs=1e-6)
    assert first["scores"] != pytest.approx(second["scores"], abs=1e-4)  # the score head switched too
    assert len(pool._bases) == 1 and first["tokens_in"] > 0


def test_switching_through_loads_and_evictions_runs_the_adapter_asked_for(runs):
    # The pool selects an adapter on its own layer list (not peft's set_adapter): every version must still score as
    # its run alone after others are loaded and evicted around it.
    pool = ServingPool(memory_budget_bytes=1 << 30)
    a, b, c = (served_version(v, runs[r]) for v, r in (("a", "rm-a"), ("b", "rm-b"), ("c", "rm-a")))
    expected = {"a": alone(runs["rm-a"]), "b": alone(runs["rm-b"]), "c": alone(runs["rm-a"])}
    for version in (a, b, c, b, a):
        assert pool.score(version, PROMPT, REPLIES)["scores"] == pytest.approx(expected[version.version_id], abs=1e-4)
    pool.evict("b")
    for version in (c, a, b, c):
        assert pool.score(version, PROMPT, REPLIES)["scores"] == pytest.approx(expected[version.version_id], abs=1e-4)
    pool.evict("a")
    assert pool.score(c, PROMPT, REPLIES)["scores"] == pytest.approx(expected["c"], abs=1e-4)
    assert pool.score(b, PROMPT, REPLIES)["scores"] == pytest.approx(expected["b"], abs=1e-4)
    assert pool.loaded_versions == ["c", "b"] and len(pool._bases) == 1


def test_versions_with_the_same_tokenizer_files_share_one_loaded_tokenizer(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    a, b, other = (served_version(v, runs[r]) for v, r in (("a", "rm-a"), ("b", "rm-b"), ("o", "rm-other")))
    assert pool._tokenizer(a) is pool._tokenizer(b)  # two runs of one base: byte-identical tokenizer files
    assert pool._tokenizer(other) is not pool._tokenizer(a)  # another base's tokenizer, trained on other text
    assert pool._tokenizer(other).get_vocab() != pool._tokenizer(a).get_vocab()
    assert len(pool._tokenizers) == 2


def test_least_recently_used_adapter_is_evicted_under_the_budget_and_reloads_the_same(runs):
    probe = ServingPool(memory_budget_bytes=1 << 30)
    a, b, whole = (served_version(v, runs[r]) for v, r in (("a", "rm-a"), ("b", "rm-b"), ("w", "rm-whole")))
    probe.score(a, PROMPT, REPLIES)
    one_adapter = probe.loaded_bytes
    pool = ServingPool(memory_budget_bytes=one_adapter * 2 - 1)  # room for one adapter, not two
    expected = pool.score(a, PROMPT, REPLIES)["scores"]
    pool.score(b, PROMPT, REPLIES)
    assert pool.loaded_versions == ["b"]
    reloaded = pool.score(a, PROMPT, REPLIES)
    assert reloaded["loaded"] and reloaded["scores"] == pytest.approx(expected, abs=1e-6)
    assert pool.loaded_versions == ["a"]
    pool.score(whole, PROMPT, REPLIES)  # a whole model is counted whole: it pushes the adapter out
    assert pool.loaded_versions == ["w"] and pool.loaded_bytes > one_adapter


def test_an_adapter_of_another_base_is_refused_naming_both(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30, base_models={"reward_model": str(runs["base"])})
    other = served_version("o", runs["rm-other"])
    with pytest.raises(AdapterBaseMismatch) as refused:
        pool.registration_check(other)
    assert "other-base" in str(refused.value) and str(Path(runs["base"]).resolve()) in str(refused.value)
    with pytest.raises(AdapterBaseMismatch):
        pool.score(other, PROMPT, REPLIES)


def test_generation_is_seeded_and_bounded(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    policy = served_version("p", runs["dpo-a"])
    first = pool.generate(policy, PROMPT, max_tokens=8, temperature=1.0, seed=7)
    assert first == {**pool.generate(policy, PROMPT, max_tokens=8, temperature=1.0, seed=7), "seconds": first["seconds"],
                     "loaded": True}
    assert 1 <= first["tokens_out"] <= 8 and first["tokens_in"] > 0
    greedy = pool.generate(policy, PROMPT, max_tokens=8, temperature=0, seed=1)
    assert greedy["text"] == pool.generate(policy, PROMPT, max_tokens=8, temperature=0, seed=2)["text"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_tokens": 0}, "max_tokens"), ({"max_tokens": -3}, "max_tokens"), ({"max_tokens": 10**6}, "max_tokens"),
    ({"max_tokens": 4, "temperature": 2.5}, "temperature"), ({"max_tokens": 4, "temperature": -0.1}, "temperature"),
    ({"max_tokens": 4, "seed": -1}, "seed"),
])
def test_bad_generation_requests_name_the_field(runs, kwargs, field):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    with pytest.raises(ServingInputError) as refused:
        pool.generate(served_version("p", runs["dpo-a"]), PROMPT, **kwargs)
    assert refused.value.field == field


def test_a_prompt_over_the_context_and_the_wrong_kind_are_refused(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    reward, policy = served_version("a", runs["rm-a"]), served_version("p", runs["dpo-a"])
    long_prompt = "banana " * 2000
    with pytest.raises(ServingInputError, match="over the model's context") as refused:
        pool.score(reward, long_prompt, REPLIES)
    assert refused.value.field == "prompt"
    with pytest.raises(ServingInputError) as refused:
        pool.generate(policy, long_prompt, max_tokens=4)
    assert refused.value.field == "prompt"
    with pytest.raises(ServingInputError) as refused:
        pool.score(policy, PROMPT, REPLIES)
    assert refused.value.field == "model_version"
    with pytest.raises(ServingInputError) as refused:
        pool.score(reward, PROMPT, [])
    assert refused.value.field == "replies"


def test_concurrent_calls_on_different_adapters_get_their_own_scores(runs):
    pool = ServingPool(memory_budget_bytes=1 << 30)
    versions = [served_version("a", runs["rm-a"]), served_version("b", runs["rm-b"])]
    expected = {v.version_id: pool.score(v, PROMPT, REPLIES)["scores"] for v in versions}
    results, errors = [], []

    def call(version):
        try:
            for _ in range(5):
                results.append((version.version_id, pool.score(version, PROMPT, REPLIES)["scores"]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(versions[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 30
    assert all(scores == pytest.approx(expected[vid], abs=1e-6) for vid, scores in results)
