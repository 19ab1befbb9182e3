"""The shared arithmetic on small synthetic problems: exact influence against refitting, DataInf against its
formula written out, the count sketch, TracIn's checkpoint weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlhf.attribution.influence import (
    GradientBlock,
    datainf_scores,
    exact_influence_scores,
    roc_auc,
    spearman,
)
from rlhf.attribution.linear import newton_trajectory
from rlhf.attribution.neural import CountSketch, run_checkpoints
from rlhf.linear_head import (
    bradley_terry_fit,
    bradley_terry_gradients,
    bradley_terry_hessian,
    bradley_terry_losses,
)


def logistic_problem(seed=0, rows=120, dimension=6):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=dimension)
    differences = rng.normal(size=(rows, dimension))
    labels = np.where(rng.random(rows) < 1 / (1 + np.exp(-differences @ truth)), 1.0, -1.0)
    labels[:12] *= -1   # some flipped labels: rows that hurt
    evaluation = rng.normal(size=(60, dimension))
    evaluation *= np.sign(evaluation @ truth)[:, None]
    return differences * labels[:, None], evaluation


def test_exact_influence_predicts_leave_one_out_refits():
    differences, evaluation = logistic_problem()
    l2 = 0.05
    weights, _ = bradley_terry_fit(differences, l2=l2)
    full_loss = bradley_terry_losses(weights, evaluation).mean()
    scores = exact_influence_scores(bradley_terry_gradients(weights, differences),
                                    bradley_terry_gradients(weights, evaluation).mean(axis=0),
                                    bradley_terry_hessian(weights, differences, l2=l2))
    refitted = []
    for index in range(40):
        keep = np.arange(len(differences)) != index
        loo_weights, _ = bradley_terry_fit(differences[keep], l2=l2)
        refitted.append(bradley_terry_losses(loo_weights, evaluation).mean() - full_loss)
    assert spearman(scores[:40], refitted) > 0.95
    assert np.allclose(scores[:40], refitted, rtol=0.3, atol=2e-4)
    assert scores[:12].mean() < 0 < scores[12:].mean()   # the flipped rows hurt


def test_the_replayed_newton_fit_is_the_training_fit():
    differences, _ = logistic_problem(seed=1)
    steps, final = newton_trajectory(differences, None, l2=0.01)
    fitted, report = bradley_terry_fit(differences, l2=0.01)
    assert np.allclose(final, fitted, rtol=0, atol=1e-12)
    assert len(steps) == report["iterations"] - 1 and not np.any(steps[0].weights)


def test_datainf_is_the_mean_of_rank_one_inverses():
    rng = np.random.default_rng(2)
    gradients, target = rng.normal(size=(30, 8)), rng.normal(size=8)
    blocks = [GradientBlock("first", 0, 5, 5), GradientBlock("second", 5, 8, 3)]
    scores, lambdas = datainf_scores(gradients, target, blocks, damping=0.1)
    expected = np.zeros(30)
    for block, damping in zip(blocks, lambdas, strict=True):
        part = gradients[:, block.start:block.stop]
        assert damping == pytest.approx(0.1 * (part ** 2).mean())
        inverse = np.mean([np.linalg.inv(np.outer(g, g) + damping * np.eye(len(g))) for g in part], axis=0)
        expected += part @ (inverse @ target[block.start:block.stop])
    assert np.allclose(scores, expected / 30)


def test_count_sketch_is_seeded_and_keeps_inner_products():
    import torch

    sizes = {"big": 20000, "small": 40}
    sketch = CountSketch(sizes, target_dim=4096, seed=3, device="cpu")
    again = CountSketch(sizes, target_dim=4096, seed=3, device="cpu")
    other = CountSketch(sizes, target_dim=4096, seed=4, device="cpu")
    assert [b.stop - b.start for b in sketch.layout] == [4056, 40]   # the small block stays whole
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(1, 20040, generator=generator)
    vectors = base + 0.7 * torch.randn(16, 20040, generator=generator)
    blocks = {"big": vectors[:, :20000], "small": vectors[:, 20000:]}
    projected = sketch(blocks)
    assert torch.equal(projected, again(blocks)) and not torch.equal(projected, other(blocks))
    exact, approximate = vectors @ vectors.T, projected @ projected.T
    assert float((approximate - exact).abs().max() / exact.abs().max()) < 0.1
    assert CountSketch(sizes, target_dim=0, seed=3, device="cpu").dimension == 20040


def test_tracin_checkpoints_stand_for_the_steps_since_the_previous_one(tmp_path):
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    history = [{"step": step, "learning_rate": 0.1 * (1 - step / 12)} for step in range(1, 13)]
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    record = {"global_step": 12, "config": {"learning_rate": 0.1}}
    checkpoints = run_checkpoints(tmp_path, record)
    assert [c.step for c in checkpoints] == [4, 8, 12] and checkpoints[-1].folder == tmp_path
    rates = np.array([entry["learning_rate"] for entry in history])
    assert [c.learning_rate_sum for c in checkpoints] == pytest.approx([rates[:4].sum(), rates[4:8].sum(),
                                                                        rates[8:].sum()])
    final_only = run_checkpoints(tmp_path, record, which="final")
    assert len(final_only) == 1 and final_only[0].learning_rate_sum == pytest.approx(rates.sum())


def test_rank_statistics():
    assert roc_auc([3, 4], [1, 2]) == 1.0 and roc_auc([1], [1]) == 0.5 and roc_auc([1, 2], [3]) == 0.0
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
