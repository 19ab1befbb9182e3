"""The online loop on the site: generation jobs fill a Datanet's queue with a real (tiny) policy's replies, with
their provenance in the exports; a job killed mid-run resumes without duplicates; bad jobs are refused before
queueing, naming the field; a reward model scores the queue; the rounds page and commands show each round."""

import hashlib
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from feedback_site.annotation import services
from feedback_site.annotation.exports import feedback_log_rows, snapshot_export, trl_rows
from feedback_site.annotation.models import Comparison, Datanet, Response
from feedback_site.core import errors
from feedback_site.rounds import selectors
from feedback_site.rounds import services as rounds
from feedback_site.rounds.models import GeneratedPrompt, GenerationJob
from feedback_site.training.models import BaseModel, JobState
from rlhf.active import pair_uncertainty, shuffle_key
from simulator.feedback_log import validation_errors

from .conftest import judge, registered

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("offline_artifacts")]

SAMPLING = {"replies_per_prompt": 3, "max_new_tokens": 5, "temperature": 1.0, "seed": 4}


def test_a_generation_job_fills_the_queue_with_replies_that_carry_their_provenance(
        db, datanet_with, make_annotator, policy_dir, tmp_path):
    datanet = datanet_with(n=4, overlap=1)
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-1")
    imported = Comparison.objects.filter(datanet=datanet).count()
    job = rounds.generation_job_create(datanet=datanet, policy=policy, settings=SAMPLING, prompt_limit=3)
    assert (job.state, job.prompts_total, job.settings["seed"]) == (JobState.QUEUED, 3, 4)
    assert {"torch", "transformers"} <= set(job.versions)
    job = rounds.generation_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED, job.error
    generated = Comparison.objects.filter(datanet=datanet, response_a__generation__isnull=False)
    assert generated.count() == job.comparisons_created == Comparison.objects.count() - imported
    assert job.comparisons_created > 0 and job.comparisons_created + job.pairs_left_out == 3 * 3  # three replies per prompt: three pairs each
    assert job.prompts_done == GeneratedPrompt.objects.filter(job=job).count() == 3
    for comparison in generated.select_related("prompt", "response_a", "response_b"):
        a, b = comparison.response_a, comparison.response_b
        assert a.text != b.text and a.prompt_id == b.prompt_id == comparison.prompt_id
        assert comparison.shuffle_key == shuffle_key(comparison.prompt.text, a.text, b.text)
        assert a.generation["job"] == job.id and a.generation["model_version"] == "policy-1"
        assert a.generation["settings"]["temperature"] == 1.0 and a.source_model == "policy-1"
    # The generated comparisons are served and judged like imported ones, and their provenance is exported.
    annotator = make_annotator("rater")
    services.datanet_member_add(datanet=datanet, user=annotator)
    while services.assignment_next(annotator=annotator, datanet=datanet) is not None:
        judge(annotator, datanet, choice="A")
    snapshot = services.snapshot_create(datanet=datanet)
    rows = list(trl_rows(snapshot))
    with_generation = [r for r in rows if "generation" in r]
    assert len(with_generation) == job.comparisons_created and len(rows) > len(with_generation)
    for row in with_generation:
        comparison = Comparison.objects.select_related("response_a", "response_b").get(pk=row["comparison_id"])
        chosen = comparison.response_a if comparison.response_a.text == row["chosen"] else comparison.response_b
        assert row["generation"]["chosen"] == chosen.generation
    log = list(feedback_log_rows(snapshot))
    assert all(validation_errors(row) == [] for row in log)
    assert sum("generation" in row for row in log) == job.comparisons_created
    # The snapshot's hash covers the bytes exported, provenance included.
    trl_path = snapshot_export(snapshot=snapshot, export_format="trl", out=tmp_path / "trl.jsonl")
    assert hashlib.sha256(trl_path.read_bytes()).hexdigest() == snapshot.metadata["trl_sha256"]
    log_path = snapshot_export(snapshot=snapshot, export_format="log", out=tmp_path / "log.jsonl")
    assert hashlib.sha256(log_path.read_bytes()).hexdigest() == snapshot.metadata["log_sha256"]
    import datasets

    hf = datasets.load_from_disk(str(snapshot_export(snapshot=snapshot, export_format="hf", out=tmp_path / "hf")))
    kept = [json.loads(g) for g in hf["generation"] if g is not None]
    assert len(kept) == job.comparisons_created and all(g["chosen"]["job"] == job.id for g in kept)


def test_a_job_killed_mid_run_resumes_without_duplicates_and_gives_the_same_replies(
        db, datanet_with, make_annotator, policy_dir, monkeypatch):
    from rlhf.generation import Generator

    def texts(datanet):
        return sorted((c.prompt.external_id, c.response_a.text, c.response_b.text) for c in
                      Comparison.objects.filter(datanet=datanet, response_a__generation__isnull=False)
                      .select_related("prompt", "response_a", "response_b"))

    whole = datanet_with(n=4, overlap=1, name="Whole")
    policy = registered(whole, make_annotator, policy_dir, "dpo_policy", "policy-w")
    rounds.generation_job_run(job_id=rounds.generation_job_create(datanet=whole, policy=policy, settings=SAMPLING).id)

    broken = datanet_with(n=4, overlap=1, name="Broken")
    job = rounds.generation_job_create(datanet=broken, policy=policy, settings=SAMPLING)
    real_replies, calls = Generator.replies, []

    def dies_on_the_third_prompt(self, prompt_id, prompt):
        calls.append(prompt_id)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real_replies(self, prompt_id, prompt)

    monkeypatch.setattr(Generator, "replies", dies_on_the_third_prompt)
    job = rounds.generation_job_run(job_id=job.id)
    assert job.state == JobState.FAILED and "worker killed" in job.error and job.prompts_done == 2
    monkeypatch.setattr(Generator, "replies", real_replies)
    job = rounds.generation_job_retry(job=GenerationJob.objects.get(pk=job.id))
    job = rounds.generation_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED and job.attempts == 2 and job.prompts_done == 4
    assert GeneratedPrompt.objects.filter(job=job).count() == 4
    resumed = texts(broken)
    assert len(resumed) == len(set(resumed)) == job.comparisons_created
    # Each prompt's replies come from a seed of its own: the resumed run gave what an uninterrupted one gives.
    assert [t[1:] for t in resumed] == [t[1:] for t in texts(whole)]
    # A second delivery of a finished job does nothing.
    assert rounds.generation_job_run(job_id=job.id).comparisons_created == job.comparisons_created
    assert len(texts(broken)) == len(resumed)
    with pytest.raises(errors.Conflict, match="completed; start a new job"):
        rounds.generation_job_retry(job=job)


def test_bad_jobs_are_refused_before_queueing_naming_the_field(db, datanet_with, make_annotator, policy_dir,
                                                                reward_dir, tiny_dir, django_capture_on_commit_callbacks):
    datanet = datanet_with(n=2, overlap=1)
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-r")
    reward = registered(datanet, make_annotator, reward_dir, "reward_model", "reward-r")
    empty = services.datanet_create(name="Empty", overlap=1)
    context = json.loads((tiny_dir / "config.json").read_text())["max_position_embeddings"]
    encoder = BaseModel.objects.create(name="minilm", path="", family="encoder")
    cases = [
        ({"policy": reward}, "policy: model reward-r holds a reward_model run, not a causal LM"),
        ({"policy": policy, "datanet": empty}, "datanet: Datanet 'Empty' has no prompts"),
        ({"policy": policy, "settings": {"max_new_tokens": context}},
         f"max_new_tokens must leave room for a prompt in the model's context of {context}"),
        ({"policy": policy, "settings": {"temperature": "3"}}, r"temperature must be in \[0, 2\]"),
        ({"policy": policy, "settings": {"beams": 2}}, "beams: not a generation setting"),
        ({"policy": policy, "second_version": policy, "reference": encoder}, "reference: compare the policy with"),
        ({"policy": policy, "reference": encoder}, "reference: base model minilm is the packaged encoder"),
        ({"policy": policy, "second_version": reward}, "second_version: model reward-r holds a reward_model run"),
        ({"policy": policy, "device": "tpu"}, "device: must be one of"),
        ({"policy": policy, "prompt_limit": 0}, "prompt_limit: must be at least 1"),
    ]
    with django_capture_on_commit_callbacks() as queued:
        for arguments, message in cases:
            with pytest.raises(errors.InvalidInput, match=message):
                rounds.generation_job_create(**{"datanet": datanet, **arguments})
    assert not GenerationJob.objects.exists() and not queued


def test_a_cancelled_job_stops_after_the_prompt_it_is_on(db, datanet_with, make_annotator, policy_dir, monkeypatch):
    datanet = datanet_with(n=4, overlap=1)
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-c")
    queued = rounds.generation_job_create(datanet=datanet, policy=policy, settings=SAMPLING)
    assert rounds.generation_job_cancel(job=queued).state == JobState.CANCELLED
    with pytest.raises(errors.Conflict, match="already cancelled"):
        rounds.generation_job_cancel(job=queued)
    monkeypatch.setattr(rounds, "CANCEL_CHECK_SECONDS", 0.0)
    job = rounds.generation_job_create(datanet=datanet, policy=policy, settings=SAMPLING)

    def cancel_after_the_first(done, total):
        GenerationJob.objects.filter(pk=job.id).update(cancel_requested=True)

    job = rounds.generation_job_run(job_id=job.id, on_prompt=cancel_after_the_first)
    assert job.state == JobState.CANCELLED and job.prompts_done == 1
    assert Comparison.objects.filter(response_a__generation__job=job.id).count() == job.comparisons_created


def test_a_reward_model_scores_the_queue_and_a_new_one_rescores_an_uncertainty_datanet(
        db, datanet_with, make_annotator, reward_dir, policy_dir, tiny_dir, django_capture_on_commit_callbacks,
        monkeypatch):
    from feedback_site.rounds import tasks
    from feedback_site.training import services as training
    from rlhf.scoring import pair_margins

    datanet = datanet_with(n=6, overlap=1, assignment_strategy="uncertainty")
    reward = registered(datanet, make_annotator, reward_dir, "reward_model", "reward-s")
    assert rounds.queue_score(datanet=datanet, model_version=reward) == 6
    rows = Comparison.objects.filter(datanet=datanet).order_by("pk").select_related("prompt", "response_a", "response_b")
    margins = pair_margins(reward_dir, [c.prompt.text for c in rows], [c.response_a.text for c in rows],
                           [c.response_b.text for c in rows], device="cpu")
    np.testing.assert_allclose([c.uncertainty for c in rows], pair_uncertainty(margins))
    datanet.refresh_from_db()
    assert datanet.scored_by == "reward-s" and datanet.scored_at is not None
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-s")
    with pytest.raises(errors.InvalidInput, match="model_version: dpo is a dpo_policy run; scoring comparisons needs"):
        rounds.queue_score(datanet=datanet, model_version=policy)

    # A reward model trained on this Datanet queues the scoring of its queue once it registers.
    sent = []
    monkeypatch.setattr(tasks.queue_score_run, "apply_async", lambda args, queue: sent.append((args, queue)))
    snapshot = services.snapshot_create(datanet=datanet)
    base = BaseModel.objects.create(name="tiny-base", path=str(tiny_dir), family="causal_lm")
    job = training.training_job_create(snapshot=snapshot, method="reward", base_model=base,
                                       params={"max_steps": 2, "device": "cpu", "eval_fraction": 0.0}, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        job = training.training_job_run(job_id=job.id)
    assert job.state == JobState.COMPLETED, job.error
    assert sent == [([datanet.id, job.model_version.id], "cpu")]
    # ... and not when the Datanet serves at random.
    services.datanet_strategy_set(datanet=datanet, assignment_strategy="random")
    sent.clear()
    job = training.training_job_create(snapshot=snapshot, method="reward", base_model=base,
                                       params={"max_steps": 2, "device": "cpu", "eval_fraction": 0.0}, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        training.training_job_run(job_id=job.id)
    assert sent == []


def test_the_rounds_page_and_commands_show_each_round(db, client, engineer, datanet_with, make_annotator, policy_dir,
                                                     capsys):
    datanet = datanet_with(n=3, overlap=1)
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-p")
    call_command("generate_replies", datanet.slug, "--policy", "policy-p", "--replies-per-prompt", "2",
                 "--max-new-tokens", "4", "--seed", "1", "--run-here")
    out = capsys.readouterr().out
    job = GenerationJob.objects.get()
    assert f"Generation job {job.id} completed: {job.comparisons_created} comparisons queued from 3 prompts" in out
    judged = make_annotator("round-judge")
    services.datanet_member_add(datanet=datanet, user=judged)
    judge(judged, datanet)
    found = selectors.rounds_of(datanet=datanet)
    assert [r.number for r in found] == [0, 1]
    assert found[0].generation is None and found[0].comparisons == 3 and found[0].training[0].heldout_accuracy == 0.75
    assert found[1].generation == job and found[1].comparisons == job.comparisons_created and found[1].judgments == 1

    client.force_login(engineer)
    page = client.get(f"/datanets/{datanet.slug}/rounds/").content.decode()
    assert f'href="/generation/jobs/{job.id}/"' in page and "policy-p" in page and "0.750" in page
    detail = client.get(f"/generation/jobs/{job.id}/").content.decode()
    assert 'id="job-state">completed<' in detail
    response = client.post(f"/datanets/{datanet.slug}/rounds/", {"policy": policy.id, "max_new_tokens": 100000,
                                                                  "device": "cpu"})
    assert response.status_code == 200 and "max_new_tokens" in response.content.decode()
    assert GenerationJob.objects.count() == 1
    response = client.post(f"/datanets/{datanet.slug}/rounds/", {"policy": policy.id, "max_new_tokens": 4,
                                                                  "replies_per_prompt": 2, "device": "cpu"})
    assert response.status_code == 302 and GenerationJob.objects.count() == 2
    again = client.post(f"/generation/jobs/{job.id}/retry/", follow=True).content.decode()
    assert f"Job {job.id} completed; start a new job for another round" in again
    fresh = GenerationJob.objects.latest("id")
    response = client.post(f"/generation/jobs/{fresh.id}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/generation/jobs/{fresh.id}/"
    assert GenerationJob.objects.get(pk=fresh.id).state == JobState.CANCELLED
    assert GenerationJob.objects.get(pk=job.id).state == JobState.COMPLETED

    call_command("rounds", datanet.name)
    table = capsys.readouterr().out
    assert "imported" in table and f"job {job.id} completed 3/3" in table and "(0.750)" in table
    with pytest.raises(CommandError, match="policy: no registered model version named 'nope'"):
        call_command("generate_replies", datanet.slug, "--policy", "nope")
    with pytest.raises(CommandError, match="datanet: Datanet 'Bare' has no prompts"):
        services.datanet_create(name="Bare")
        call_command("generate_replies", "Bare", "--policy", "policy-p")
    assert Datanet.objects.filter(name="Bare").exists() and GenerationJob.objects.count() == 2


@pytest.mark.parametrize("command", ["generate_replies", "score_queue", "train", "rounds"])
def test_each_step_has_a_command_with_help(command, capsys):
    with pytest.raises(SystemExit):
        call_command(command, "--help")
    assert "Example: python manage.py" in " ".join(capsys.readouterr().out.split())


def test_unused_response_rows_are_not_stored_for_pairs_left_out(db, datanet_with):
    datanet = datanet_with(n=1, overlap=1)
    prompt = datanet.prompts.get()
    before = Response.objects.count()
    provenance = {"job": 1}
    stored, left_out = services.generated_comparisons_add(
        prompt=prompt, replies=[("same", "m", provenance), ("same", "m", provenance), ("no\x00", "m", provenance)],
        pairs=[(0, 1), (0, 2)])
    assert (stored, left_out) == (0, 2) and Response.objects.count() == before
