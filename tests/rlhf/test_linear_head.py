"""The frozen-encoder + linear Bradley-Terry head reward model."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from rlhf.config import RewardTrainingConfig
from rlhf.evaluate import evaluate_model
from rlhf.fields import ConfigError
from rlhf.linear_head import (
    PACKAGED_ENCODER,
    EmbeddingCache,
    LinearHeadModel,
    bradley_terry_fit,
    bradley_terry_gradients,
    bradley_terry_hessian,
    bradley_terry_objective,
    l2_cross_validated,
    linear_head_train,
)
from rlhf.reward import reward_train
from rlhf.tiny import marker_preference_rows


def synthetic_problem(seed=0, rows=60, dimension=5, with_margins=True):
    rng = np.random.default_rng(seed)
    differences = rng.normal(size=(rows, dimension))
    margins = rng.uniform(0, 0.5, size=rows) if with_margins else None
    return differences, margins


def test_fit_reaches_the_optimum_of_the_regularised_objective():
    differences, margins = synthetic_problem()
    weights, report = bradley_terry_fit(differences, margins, l2=0.05)
    assert report["converged"] and report["iterations"] < 20
    full_gradient = bradley_terry_gradients(weights, differences, margins).mean(axis=0) + 0.05 * weights
    assert np.linalg.norm(full_gradient) < 1e-9
    # any nudge away from the optimum costs
    for direction in np.eye(5):
        for sign in (1, -1):
            nudged = bradley_terry_objective(weights + sign * 1e-3 * direction, differences, margins, l2=0.05)
            assert nudged > report["objective"]


def test_fit_is_deterministic_and_separable_data_stays_finite():
    differences = np.abs(synthetic_problem(seed=1, with_margins=False)[0])  # every pair correctly separable
    first, _ = bradley_terry_fit(differences, l2=1e-3)
    second, _ = bradley_terry_fit(differences.copy(), l2=1e-3)
    assert np.array_equal(first, second) and np.all(np.isfinite(first))
    with pytest.raises(ValueError, match="l2 must be > 0"):
        bradley_terry_fit(differences, l2=0.0)


def test_per_example_gradients_and_hessian_match_finite_differences():
    differences, margins = synthetic_problem(seed=2)
    weights = np.random.default_rng(3).normal(size=5) * 0.3
    step = 1e-6

    def mean_gradient(at):
        return bradley_terry_gradients(at, differences, margins).mean(axis=0) + 0.1 * at

    numeric_gradient = np.array([
        (bradley_terry_objective(weights + step * e, differences, margins, l2=0.1)
         - bradley_terry_objective(weights - step * e, differences, margins, l2=0.1)) / (2 * step)
        for e in np.eye(5)
    ])
    assert np.allclose(mean_gradient(weights), numeric_gradient, atol=1e-7)
    numeric_hessian = np.array([(mean_gradient(weights + step * e) - mean_gradient(weights - step * e)) / (2 * step)
                                for e in np.eye(5)])
    assert np.allclose(bradley_terry_hessian(weights, differences, margins, l2=0.1), numeric_hessian, atol=1e-6)


def test_embedding_cache_round_trips_and_survives_a_torn_save(tmp_path):
    cache = EmbeddingCache(tmp_path, "encoder-a")
    cache.add(["x", "y"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    cache.save()
    reopened = EmbeddingCache(tmp_path, "encoder-a")
    assert reopened.missing(["y", "z", "z", "x"]) == ["z"]
    assert np.array_equal(reopened.get(["y", "x"]), [[0.0, 1.0], [1.0, 0.0]])
    assert len(EmbeddingCache(tmp_path, "encoder-b")) == 0  # another encoder never sees these vectors
    # vectors.npy is written before keys.json: extra vectors without keys are ignored
    vectors_path = next(tmp_path.rglob("vectors.npy"))
    np.save(vectors_path, np.zeros((3, 2), dtype=np.float32) + [[1, 0], [0, 1], [5, 5]])
    assert len(EmbeddingCache(tmp_path, "encoder-a")) == 2


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory, embedding_cache_dir):
    rows = marker_preference_rows(100, seed=21, with_margin=True)
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path_factory.mktemp("linear")),
                                  eval_fraction=0.3, device="cpu", embedding_cache_dir=str(embedding_cache_dir),
                                  l2=1e-3, head_features="conversation")
    progress = []
    return reward_train(config, rows=rows, on_progress=lambda *event: progress.append(event)), rows, progress


def test_linear_head_on_minilm_learns_the_marker_preference(linear_run):
    result, _, progress = linear_run
    assert result.kind == "linear_head" and result.status == "completed"
    assert result.metrics["heldout"]["pairs"] == 30
    assert result.metrics["heldout"]["accuracy"] > 0.9
    assert result.record["encoder"]["reference"] == PACKAGED_ENCODER
    assert result.record["data"]["margin_used"] is True
    assert result.record["fit"]["converged"]
    assert progress[-1][0] == progress[-1][1] and progress[-1][2] is not None


def test_linear_head_folder_scores_the_same_and_exposes_attribution_pieces(linear_run):
    result, rows, _ = linear_run
    heldout_ids = set(result.record["data"]["heldout_row_ids"])
    heldout = [row for row in rows if row.row_id in heldout_ids]
    metrics = evaluate_model(result.output_dir, heldout, device="cpu")
    assert metrics["kind"] == "linear_head"
    assert metrics["accuracy"] == result.metrics["heldout"]["accuracy"]

    model = LinearHeadModel.load(result.output_dir, device="cpu")
    train = [row for row in rows if row.row_id not in heldout_ids]
    differences = model.pair_differences(train)
    margins = np.array([row.margin for row in train])
    gradients = model.per_example_gradients(train)
    assert gradients.shape == (70, 384)
    # at the optimum the mean loss gradient is cancelled by the L2 pull
    assert np.linalg.norm(gradients.mean(axis=0) + model.l2 * model.weights) < 1e-6
    assert np.allclose(model.head_hessian(), bradley_terry_hessian(model.weights, differences, margins, l2=model.l2))


def test_second_run_on_the_same_texts_encodes_nothing(linear_run, tmp_path, embedding_cache_dir):
    result, rows, _ = linear_run
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path / "again"), eval_fraction=0.3,
                                  device="cpu", embedding_cache_dir=str(embedding_cache_dir), l2=1e-3,
                                  head_features="conversation")
    again = reward_train(config, rows=rows)
    assert again.record["timings"]["texts_embedded"] == 0
    assert np.array_equal(np.load(tmp_path / "again" / "head.npz")["weights"],
                          np.load(result.output_dir / "head.npz")["weights"])


def test_cancelling_between_embedding_batches_keeps_what_was_encoded(tmp_path):
    rows = marker_preference_rows(40, seed=22)  # 80 texts: two batches of up to 64
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path / "stopped"), eval_fraction=0.25,
                                  device="cpu", embedding_cache_dir=str(tmp_path / "cache"),
                                  head_features="conversation", l2=1e-2)
    result = reward_train(config, rows=rows, should_stop=lambda: True)
    assert result.status == "cancelled" and result.record["status"] == "cancelled"
    assert not (tmp_path / "stopped" / "head.npz").exists()
    assert result.record["timings"]["texts_embedded"] == 64

    finished = reward_train(config, rows=rows)
    assert finished.status == "completed"
    assert finished.record["timings"]["texts_embedded"] == 16  # only the second batch was left to encode


def test_cross_validation_picks_the_strongest_l2_that_predicts_as_well_as_the_best():
    rng = np.random.default_rng(3)
    labels = rng.choice([-1.0, 1.0], size=400)
    groups = [str(i // 2) for i in range(400)]          # pairs of rows about the same comparison
    # a tiny feature that decides every label, and a loud one that barely says anything: a strong L2 pulls
    # the head toward the mean difference, which the loud feature dominates, so it must not be chosen
    informative = labels * 0.01 + rng.normal(scale=0.002, size=400)
    loud = labels * 0.1 + rng.normal(scale=1.0, size=400)
    differences = np.column_stack([informative, loud]) * labels[:, None]
    choice = l2_cross_validated(differences, groups, grid=(1e-4, 1e-2, 1.0, 100.0), folds=4)
    assert choice.l2 < 100.0 and max(choice.accuracy) > 0.9
    assert choice.accuracy[choice.grid.index(choice.l2)] >= max(choice.accuracy) - max(choice.standard_error)
    # without any signal every L2 predicts alike, and the rule keeps the steadiest head
    noise = rng.normal(size=(400, 3))
    assert l2_cross_validated(noise, groups, grid=(1e-3, 1e-1, 10.0), folds=4).l2 == 10.0
    with pytest.raises(ValueError, match="grid"):
        l2_cross_validated(noise, groups, grid=(0.0, 1.0))


def test_conversation_and_reply_features_are_recorded_and_read_back(tmp_path, embedding_cache_dir):
    rows = marker_preference_rows(30, seed=23)
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path / "both"), eval_fraction=0.0,
                                  device="cpu", embedding_cache_dir=str(embedding_cache_dir), l2=1e-2,
                                  head_features="conversation+reply")
    result = linear_head_train(config, rows=rows)
    assert result.record["encoder"]["features"] == "conversation+reply"
    model = LinearHeadModel.load(result.output_dir, device="cpu")
    differences = model.pair_differences(rows)
    assert differences.shape == (30, 768) and model.weights.shape == (768,)
    # the second half is the replies' own embeddings: the prompt cancels out of their difference
    replies = model.embed([row.chosen for row in rows]) - model.embed([row.rejected for row in rows])
    assert np.allclose(differences[:, 384:], replies)
    scores = model.scores([row.prompt for row in rows], [row.chosen for row in rows])
    assert np.allclose(scores, model.embed([row.prompt + row.chosen for row in rows]) @ model.weights[:384]
                       + model.embed([row.chosen for row in rows]) @ model.weights[384:])


def test_by_default_the_head_reads_the_reply_too_and_its_l2_is_cross_validated(tmp_path, embedding_cache_dir):
    rows = marker_preference_rows(60, seed=24)
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path / "default"), eval_fraction=0.25,
                                  device="cpu", embedding_cache_dir=str(embedding_cache_dir))
    result = linear_head_train(config, rows=rows)
    record = json.loads((result.output_dir / "run.json").read_text())
    choice = record["l2_choice"]
    assert record["encoder"]["features"] == "conversation+reply" and record["config"]["l2"] is None
    assert choice["grid"] == sorted(config.l2_grid) and choice["folds"] == 5 and choice["l2"] in choice["grid"]
    # the one-standard-error rule: the chosen L2 predicts within one standard error of the best one
    best = int(np.argmax(choice["accuracy"]))
    assert choice["accuracy"][choice["grid"].index(choice["l2"])] >= (
        choice["accuracy"][best] - choice["standard_error"][best])
    assert choice["accuracy"][best] > 0.9   # the marker is easy to learn from 45 rows
    model = LinearHeadModel.load(result.output_dir, device="cpu")
    assert model.l2 == choice["l2"] and model.weights.shape == (768,)
    assert record["timings"]["l2_choice_seconds"] > 0
    # a given L2 is used as it is and recorded as given
    given = linear_head_train(dataclasses.replace(config, output_dir=str(tmp_path / "given"), l2=0.05), rows=rows)
    assert given.record["l2_choice"] == {"l2": 0.05, "rule": "given"}
    assert LinearHeadModel.load(given.output_dir, device="cpu").l2 == 0.05


def test_too_few_comparisons_to_cross_validate_ask_for_an_l2(tmp_path, embedding_cache_dir):
    rows = marker_preference_rows(4, seed=25)
    config = RewardTrainingConfig(head="linear", output_dir=str(tmp_path / "few"), eval_fraction=0.0,
                                  device="cpu", embedding_cache_dir=str(embedding_cache_dir))
    with pytest.raises(ConfigError, match=r"^l2 is empty.*at least 5 comparisons.*there are 4: give l2"):
        linear_head_train(config, rows=rows)


def test_a_head_saved_without_a_features_entry_reads_the_conversation(linear_run, tmp_path):
    result, rows, _ = linear_run
    old = tmp_path / "saved-before-features"
    shutil.copytree(result.output_dir, old)
    record = json.loads((old / "run.json").read_text())
    del record["encoder"]["features"], record["l2_choice"]
    record["config"].pop("head_features")
    (old / "run.json").write_text(json.dumps(record))
    model = LinearHeadModel.load(old, device="cpu")
    assert model.features == "conversation" and model.weights.shape == (384,)
    prompts, replies = [row.prompt for row in rows], [row.chosen for row in rows]
    assert np.allclose(model.scores(prompts, replies),
                       LinearHeadModel.load(result.output_dir, device="cpu").scores(prompts, replies))
