"""Attribution through the site: a trained model's contributors scored, stored, shown, handed to settlement."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from feedback_site.annotation import errors, services
from feedback_site.attribution import services as attribution
from feedback_site.attribution.models import AttributionJob
from feedback_site.ledger import services as ledger_services
from feedback_site.ledger.epoch_inputs import epoch_attribution_active
from feedback_site.ledger.models import EpochAttribution
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.training import services as training
from feedback_site.training.models import BaseModel, JobState, ModelVersion

from .conftest import jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("offline_artifacts")]


def test_flippers_score_negative_and_honest_positive_end_to_end(client, db, make_annotator, engineer):
    from rlhf.tiny import marker_preference_rows

    honest = [make_annotator(f"honest{i}") for i in range(3)]
    flipper = make_annotator("flipper")
    datanet = services.datanet_create(name="Marker", overlap=1)
    pairs = marker_preference_rows(240, seed=8)
    services.datanet_import(
        datanet=datanet, stream=jsonl([{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in pairs]), origin="test"
    )
    people = [*honest, flipper]
    for person in people:
        services.datanet_member_add(datanet=datanet, user=person)
    turn = 0
    while True:  # each comparison judged once (k = 1), round robin
        person = people[turn % len(people)]
        turn += 1
        assignment = services.assignment_next(annotator=person, datanet=datanet)
        if assignment is None:
            if turn > 4 * len(pairs):
                break
            continue
        marked = "a" if "banana" in assignment.comparison.response_a.text else "b"
        pick = marked if person != flipper else ("b" if marked == "a" else "a")
        services.judgment_submit(
            annotator=person, assignment_id=assignment.id, choice="A" if pick == assignment.shown_left else "B", strength=2, time_spent_ms=800
        )
    snapshot = services.snapshot_create(datanet=datanet)
    encoder = BaseModel.objects.create(name="minilm", path="", family="encoder")
    # the site's defaults: the head reads the reply beside the conversation, its L2 chosen by cross-validation
    job = training.training_job_create(snapshot=snapshot, method="reward_linear", base_model=encoder, params={"eval_fraction": 0.25})
    job = training.training_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED, job.error
    run = json.loads((Path(ModelVersion.objects.get(job=job).artifacts_dir) / "run.json").read_text())
    assert run["encoder"]["features"] == "conversation+reply" and run["l2_choice"]["l2"] in run["l2_choice"]["grid"]
    queued = AttributionJob.objects.get(model_version=ModelVersion.objects.get(job=job))  # launched by the finished training
    assert queued.method == "influence-exact" and queued.epoch == 0
    done = attribution.attribution_job_run(job_id=queued.id)
    assert done.state == JobState.COMPLETED, done.error
    scores = {s.contributor.user.username: s.score for s in done.scores.select_related("contributor__user")}
    assert scores["flipper"] < 0 < min(scores[h.username] for h in honest)
    assert done.summary["cost"]["wall_seconds"] > 0 and done.summary["data"]["sha256"]
    settled = {e.contributor.user.username: e.score for e in epoch_attribution_active(epoch=0).select_related("contributor__user")}
    assert settled == scores  # settlement of epoch 0 will pay by these
    assert set(epoch_attribution_active(epoch=0).values_list("model_version_id", "source_run_id")) == {
        (queued.model_version_id, f"attribution-{queued.pk}")
    }
    assert attribution.attribution_job_run(job_id=queued.id).state == JobState.COMPLETED  # twice is harmless
    assert EpochAttribution.objects.filter(epoch=0).count() == len(scores)

    # A second measurement of the epoch replaces the first set whole; the first is kept, superseded.
    again = attribution.attribution_job_create(model_version=queued.model_version, method="influence-exact")
    assert attribution.attribution_job_run(job_id=again.id).state == JobState.COMPLETED
    assert set(epoch_attribution_active(epoch=0).values_list("source_run_id", flat=True)) == {f"attribution-{again.pk}"}
    superseded = EpochAttribution.objects.filter(epoch=0, source_run_id=f"attribution-{queued.pk}")
    assert superseded.count() == len(scores) and not superseded.filter(superseded_by__isnull=True).exists()

    # Scores that arrive after their epoch was settled are refused: the job fails and says why.
    late = attribution.attribution_job_create(model_version=queued.model_version, epoch=0)
    ledger_services.ledger_genesis()
    epoch_settle(epoch=0)
    failed = attribution.attribution_job_run(job_id=late.id)
    assert failed.state == JobState.FAILED and failed.error.startswith("scores measured but not recorded: epoch 0 was already settled")
    assert not failed.scores.exists() and not EpochAttribution.objects.filter(source_run_id=f"attribution-{late.pk}").exists()
    with pytest.raises(errors.InvalidInput, match="epoch: epoch 0 is already settled; attribution can only feed epoch 1 or later"):
        attribution.attribution_job_create(model_version=queued.model_version, epoch=0)

    client.force_login(engineer)
    page = client.get(reverse("version_attribution", args=[queued.model_version_id])).content.decode()
    assert "flipper" not in page and flipper.contributor.pseudonym in page  # pseudonyms only
    client.force_login(flipper)
    mine = client.get(reverse("my_attribution")).content.decode()
    assert "made the model worse" in mine and honest[0].contributor.pseudonym not in mine


def test_a_method_that_does_not_fit_the_model_is_refused(db, make_annotator, tmp_path):
    version = ModelVersion(kind="reward_model", name="x", artifacts_dir=str(tmp_path))
    with pytest.raises(errors.InvalidInput, match="influence-exact"):
        attribution.attribution_job_create(model_version=version, method="influence-exact")
    with pytest.raises(errors.InvalidInput, match="unknown"):
        attribution.attribution_job_create(model_version=version, method="no-such-method")
