"""Training from a snapshot made through the site's services, on a tiny local model, on CPU."""


import pytest

from feedback_site.annotation import errors, services
from feedback_site.training import services as training
from feedback_site.training.models import BaseModel, JobState, ModelVersion, TrainingJob

from .conftest import jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("offline_artifacts")]


def marker_snapshot(make_annotator, *, rows: int = 160, name: str = "Marker"):
    """A Datanet of marker pairs, judged through the services by one annotator who always prefers the marker."""
    from rlhf.tiny import marker_preference_rows

    annotator = make_annotator(f"{name.lower()}-judge")
    datanet = services.datanet_create(name=name, overlap=1)
    pairs = marker_preference_rows(rows, seed=5)
    services.datanet_import(
        datanet=datanet, stream=jsonl([{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in pairs]), origin="test"
    )
    services.datanet_member_add(datanet=datanet, user=annotator)
    while (assignment := services.assignment_next(annotator=annotator, datanet=datanet)) is not None:
        c = assignment.comparison
        marked = "a" if "banana" in c.response_a.text else "b"
        shown = "A" if marked == assignment.shown_left else "B"
        services.judgment_submit(annotator=annotator, assignment_id=assignment.id, choice=shown, strength=2, time_spent_ms=900)
    return services.snapshot_create(datanet=datanet)


REWARD = {"learning_rate": 1e-3, "batch_size": 16, "num_epochs": 3, "eval_fraction": 0.25, "device": "cpu", "seed": 0}


def test_reward_job_from_a_site_snapshot_learns_the_preference(db, make_annotator, tiny_dir):
    snapshot = marker_snapshot(make_annotator)
    base = BaseModel.objects.create(name="tiny", path=str(tiny_dir), family="causal_lm")
    job = training.training_job_create(snapshot=snapshot, method="reward", base_model=base, params=REWARD)
    assert job.state == JobState.QUEUED and job.snapshot_hash == snapshot.content_hash
    job = training.training_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED, job.error
    assert job.metrics["heldout"]["accuracy"] > 0.9  # fails if training does nothing (chance is 0.5)
    assert job.step == job.total_steps > 0 and job.loss_history
    assert set(job.versions) >= {"torch", "transformers", "trl"}
    version = ModelVersion.objects.get(job=job)
    from rlhf.evaluate import evaluate_data

    again = evaluate_data(version.artifacts_dir, f"{job.artifacts_dir}/data.jsonl", device="cpu")
    assert again["accuracy"] == job.metrics["heldout"]["accuracy"]  # the artifacts load and reproduce the metric
    assert training.training_job_run(job_id=job.id).state == JobState.COMPLETED  # a second delivery does nothing
    assert ModelVersion.objects.count() == 1


def test_dpo_job_from_a_site_snapshot(db, make_annotator, tiny_dir):
    snapshot = marker_snapshot(make_annotator, name="Dpo")
    base = BaseModel.objects.create(name="tiny", path=str(tiny_dir), family="causal_lm")
    job = training.training_job_create(snapshot=snapshot, method="dpo", base_model=base, params={**REWARD, "beta": 0.1})
    job = training.training_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED, job.error
    heldout = job.metrics["heldout"]
    assert heldout["loglik_gap_change_mean"] > 0.5 and heldout["implicit_reward_accuracy"] > 0.8
    assert ModelVersion.objects.get(job=job).kind == "dpo_policy"


def test_bad_settings_are_refused_with_the_field(db, make_annotator, tiny_dir):
    snapshot = marker_snapshot(make_annotator, rows=8, name="Small")
    causal = BaseModel.objects.create(name="tiny", path=str(tiny_dir), family="causal_lm")
    with pytest.raises(errors.InvalidInput, match="learning_rate"):
        training.training_job_create(snapshot=snapshot, method="reward", base_model=causal, params={"learning_rate": -1})
    with pytest.raises(errors.InvalidInput, match="beta: only DPO"):
        training.training_job_create(snapshot=snapshot, method="reward", base_model=causal, params={"beta": 0.2})
    with pytest.raises(errors.InvalidInput, match="base_model"):
        training.training_job_create(snapshot=snapshot, method="reward_linear", base_model=causal, params={})
    with pytest.raises(errors.InvalidInput, match="epochs_typo"):
        training.training_job_create(snapshot=snapshot, method="reward", base_model=causal, params={"epochs_typo": 1})
    with pytest.raises(errors.InvalidInput, match="l2: only linear reward-model jobs"):
        training.training_job_create(snapshot=snapshot, method="reward", base_model=causal, params={"l2": 0.1})
    encoder = BaseModel.objects.create(name="minilm", path="", family="encoder")
    with pytest.raises(errors.InvalidInput, match=r"head_features must be one of .*got 'reply'"):
        training.training_job_create(snapshot=snapshot, method="reward_linear", base_model=encoder, params={"head_features": "reply"})
    with pytest.raises(errors.InvalidInput, match="l2 must be > 0"):
        training.training_job_create(snapshot=snapshot, method="reward_linear", base_model=encoder, params={"l2": 0})


def test_the_job_form_passes_the_linear_head_settings_through(client, db, make_annotator, engineer):
    snapshot = marker_snapshot(make_annotator, rows=8, name="Head")
    encoder = BaseModel.objects.create(name="minilm", path="", family="encoder")
    client.force_login(engineer)
    form = {"snapshot": snapshot.id, "method": "reward_linear", "base_model": encoder.id, "num_epochs": 1, "batch_size": 4,
            "max_length": 128, "save_steps": 0, "device": "cpu"}
    assert client.post("/training/", {**form, "head_features": "conversation", "l2": "0.05"}).status_code == 302
    assert client.post("/training/", {**form, "head_features": "", "l2": ""}).status_code == 302
    given, default = TrainingJob.objects.order_by("id")
    assert (given.config["head_features"], given.config["l2"]) == ("conversation", 0.05)
    assert "head_features" not in default.config and "l2" not in default.config  # rlhf's defaults: reply too, L2 by CV


def test_a_failure_is_recorded_with_its_reason(db, make_annotator, tmp_path):
    snapshot = marker_snapshot(make_annotator, rows=8, name="Broken")
    missing = BaseModel.objects.create(name="gone", path=str(tmp_path / "no-such-model"), family="causal_lm")
    job = training.training_job_create(snapshot=snapshot, method="reward", base_model=missing, params={"device": "cpu"})
    job = training.training_job_run(job_id=job.id)
    assert job.state == JobState.FAILED and "no-such-model" in job.error
    assert not ModelVersion.objects.exists()


def test_job_pages(client, db, make_annotator, engineer, tiny_dir):
    snapshot = marker_snapshot(make_annotator, rows=8, name="Pages")
    base = BaseModel.objects.create(name="tiny", path=str(tiny_dir), family="causal_lm")
    client.force_login(engineer)
    response = client.post("/training/", {"snapshot": snapshot.id, "method": "reward", "base_model": base.id, "num_epochs": 1,
                                          "batch_size": 4, "max_length": 128, "save_steps": 0, "device": "cpu"})
    assert response.status_code == 302
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    page = client.get(f"/training/jobs/{job_id}/")
    assert b"every 2s" in page.content and b"queued" in page.content
    client.post(f"/training/jobs/{job_id}/cancel/")
    assert b'data-state="cancelled"' in client.get(f"/training/jobs/{job_id}/progress/").content
    assert client.get("/models/").status_code == 200
