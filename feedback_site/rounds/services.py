"""The online loop's own steps: generation jobs, which fill a Datanet's queue with a policy's candidate replies,
and scoring, which sets how unsure a reward model is of each comparison (the order the uncertainty strategy
serves). Judging, training and attribution are the other apps' services.

A generation job is refused before it is queued, naming the field, when its model is not a causal LM
(`policy`, `second_version`, `reference`), its Datanet has no prompts (`datanet`), or a setting is out of range
(`max_new_tokens` beyond the model's context, and the rest of `rlhf.generation.GenerationSettings`). A job runs
prompt by prompt; each prompt's replies, comparisons and `GeneratedPrompt` row are written in one transaction, so a
job killed mid-run and retried (or delivered again) skips the prompts it finished and duplicates none. Each prompt's
replies are drawn from a seed of their own, so the resumed job produces the replies an uninterrupted one would.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from feedback_site.annotation.models import Comparison, Datanet, Prompt
from feedback_site.annotation.services import generated_comparisons_add, queue_uncertainty_set
from feedback_site.core import errors, jobs
from feedback_site.training.models import BaseModel, ModelVersion
from rlhf.fields import ConfigError, field_parse
from rlhf.generation import GenerationSettings, generation_check, pairs_of, prompt_seed

from .models import GeneratedPrompt, GenerationJob

GENERATION_SETTINGS = tuple(f.name for f in dataclasses.fields(GenerationSettings))
DEVICES = ("cpu", "cuda", "auto")
CANCEL_CHECK_SECONDS = 1.0


def generation_settings(values: dict[str, Any] | None) -> GenerationSettings:
    """The job's sampling settings from form or command values (strings accepted), InvalidInput naming the field."""
    clean: dict[str, Any] = {}
    for name, value in (values or {}).items():
        if value in (None, ""):
            continue
        if name not in GENERATION_SETTINGS:
            raise errors.InvalidInput(f"{name}: not a generation setting (known: {', '.join(GENERATION_SETTINGS)})")
        try:
            clean[name] = field_parse(GenerationSettings, name, value, source="generation job")
        except ConfigError as exc:
            raise errors.InvalidInput(str(exc)) from None
    try:
        return GenerationSettings(**clean)
    except ConfigError as exc:
        raise errors.InvalidInput(str(exc)) from None


def _model_checked(field: str, path: str, settings: GenerationSettings, *, name: str) -> None:
    try:
        generation_check(path, settings, name=name)
    except ConfigError as exc:
        message = str(exc)
        raise errors.InvalidInput(message if message.startswith("max_new_tokens") else f"{field}: {message}") from None


def _datanet_prompts(datanet: Datanet, cutoff: int, limit: int | None):
    prompts = Prompt.objects.filter(datanet=datanet, pk__lte=cutoff).order_by("pk")
    return prompts[:limit] if limit else prompts


def generation_job_create(*, datanet: Datanet, policy: ModelVersion, second_version: ModelVersion | None = None,
                          reference: BaseModel | None = None, settings: dict[str, Any] | None = None,
                          prompt_limit: int | None = None, device: str = "cpu", created_by=None,
                          enqueue: bool = True) -> GenerationJob:
    """Validates everything a worker would find wrong, then queues the job on commit (`enqueue=False`: the caller
    runs it, as `generate_replies --run-here` does)."""
    if second_version is not None and reference is not None:
        raise errors.InvalidInput("reference: compare the policy with a second_version or a reference model, not both")
    if device not in DEVICES:
        raise errors.InvalidInput(f"device: must be one of {', '.join(DEVICES)} (got {device!r})")
    if prompt_limit is not None and (isinstance(prompt_limit, bool) or int(prompt_limit) < 1):
        raise errors.InvalidInput(f"prompt_limit: must be at least 1 (got {prompt_limit!r})")
    sampling = generation_settings(settings)
    _model_checked("policy", policy.artifacts_dir, sampling, name=policy.name)
    if second_version is not None:
        _model_checked("second_version", second_version.artifacts_dir, sampling, name=second_version.name)
    if reference is not None:
        if not reference.path:
            raise errors.InvalidInput(f"reference: base model {reference.name} is the packaged encoder, not a causal LM")
        _model_checked("reference", reference.path, sampling, name=reference.name)
    cutoff = Prompt.objects.filter(datanet=datanet).order_by("-pk").values_list("pk", flat=True).first()
    if cutoff is None:
        raise errors.InvalidInput(f"datanet: Datanet {datanet.name!r} has no prompts to generate replies to; import "
                                  "prompts first")
    total = _datanet_prompts(datanet, cutoff, prompt_limit).count()
    from rlhf.runs import library_versions

    with transaction.atomic():
        job = GenerationJob.objects.create(
            datanet=datanet, policy=policy, second_version=second_version, reference=reference,
            settings={**sampling.as_dict(), "device": device}, queue="gpu" if device == "cuda" else "cpu",
            prompt_cutoff_id=cutoff, prompt_limit=prompt_limit, prompts_total=total, versions=library_versions(),
            created_by=created_by,
        )
        if enqueue:
            _enqueue(job)
    return job


def _enqueue(job: GenerationJob) -> None:
    from .tasks import generation_run

    jobs.job_enqueue(job, generation_run)


def generation_job_cancel(*, job: GenerationJob) -> GenerationJob:
    """A queued job is cancelled at once; a running one stops after the prompt it is on (kept, not half-written)."""
    return jobs.job_cancel(job)


def generation_job_retry(*, job: GenerationJob) -> GenerationJob:
    """Queues a failed, cancelled or lost job again; it skips the prompts it finished."""
    from .tasks import generation_run

    return jobs.job_retry(job, generation_run, completed_hint="start a new job for another round")


def _sources(job: GenerationJob, sampling: GenerationSettings, device: str) -> list[tuple[str, dict, Any]]:
    """(name, provenance, generator) of each model whose replies are compared, in pairs_of's order."""
    from rlhf.generation import Generator

    models: list[tuple[str, dict, str]] = [(job.policy.name, {"model_version": job.policy.name}, job.policy.artifacts_dir)]
    if job.second_version is not None:
        models.append((job.second_version.name, {"model_version": job.second_version.name},
                       job.second_version.artifacts_dir))
    elif job.reference is not None:
        models.append((job.reference.name, {"base_model": job.reference.name}, job.reference.path))
    return [(name, origin, Generator(path, sampling, device=device)) for name, origin, path in models]


def _prompt_replies(job: GenerationJob, sampling: GenerationSettings, sources, prompt: Prompt):
    """The prompt's replies as (text, source model, provenance), and the pairs between them."""
    texts = [generator.replies(prompt.external_id, prompt.text) for _, _, generator in sources]
    offsets = [sum(len(t) for t in texts[:s]) for s in range(len(texts))]
    seed = prompt_seed(sampling.seed, prompt.external_id)
    replies = [
        (text, name, {"job": job.id, **origin, "settings": sampling.as_dict(), "prompt_seed": seed, "index": i})
        for (name, origin, _), source_texts in zip(sources, texts, strict=True)
        for i, text in enumerate(source_texts)
    ]
    pairs = [(offsets[x[0]] + x[1], offsets[y[0]] + y[1]) for x, y in pairs_of(texts)]
    return replies, pairs


def generation_job_run(*, job_id: int, worker: str = "",
                       on_prompt: Callable[[int, int], None] | None = None) -> GenerationJob | None:
    """Runs the job in this process (the Celery task calls this). Safe to call twice, and after a crash.
    `on_prompt(done, total)` is told after each prompt."""
    job = (GenerationJob.objects.select_related("datanet", "policy", "second_version", "reference")
           .filter(pk=job_id).first())
    if job is None or not jobs.job_start(job, worker):
        return GenerationJob.objects.get(pk=job_id) if job else None
    rows = GenerationJob.objects.filter(pk=job.pk)
    try:
        settings = {k: v for k, v in job.settings.items() if k != "device"}
        sampling = GenerationSettings(**settings)
        sources = _sources(job, sampling, job.settings.get("device", "cpu"))
        done = set(GeneratedPrompt.objects.filter(job=job).values_list("prompt_id", flat=True))
        pending = [p for p in _datanet_prompts(job.datanet, job.prompt_cutoff_id, job.prompt_limit) if p.pk not in done]
        last_check = 0.0
        for prompt in pending:
            if time.monotonic() - last_check >= CANCEL_CHECK_SECONDS:
                last_check = time.monotonic()
                if rows.filter(cancel_requested=True).exists():
                    rows.update(state=jobs.CANCELLED, finished_at=timezone.now())
                    return rows.get()
            replies, pairs = _prompt_replies(job, sampling, sources, prompt)
            try:
                with transaction.atomic():
                    GeneratedPrompt.objects.create(job=job, prompt=prompt)
                    stored, left_out = generated_comparisons_add(prompt=prompt, replies=replies, pairs=pairs)
                    GeneratedPrompt.objects.filter(job=job, prompt=prompt).update(comparisons=stored)
                    rows.update(prompts_done=F("prompts_done") + 1, comparisons_created=F("comparisons_created") + stored,
                                pairs_left_out=F("pairs_left_out") + left_out, heartbeat_at=timezone.now())
            except IntegrityError:
                continue  # another delivery of this job wrote the prompt first: it is done, once
            if on_prompt is not None:
                on_prompt(*rows.values_list("prompts_done", "prompts_total").get())
        rows.update(state=jobs.COMPLETED, finished_at=timezone.now(),
                    prompts_cut=sum(generator.prompts_cut for _, _, generator in sources))
    except Exception as exc:  # noqa: BLE001 - recorded on the job, shown to the user
        jobs.job_fail(job, jobs.failure_reason(exc))
    return rows.get()


def queue_score(*, datanet: Datanet, model_version: ModelVersion, device: str = "cpu") -> int:
    """Scores every comparison of the Datanet with the reward model version and stores each one's
    `rlhf.active.pair_uncertainty`; returns how many were scored."""
    from rlhf.active import pair_uncertainty
    from rlhf.scoring import pair_margins, scoring_kind

    try:
        scoring_kind(model_version.artifacts_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise errors.InvalidInput(str(exc) if str(exc).startswith("model_version")
                                  else f"model_version: {model_version.name}: {exc}") from None
    rows = list(Comparison.objects.filter(datanet=datanet).order_by("pk")
                .values_list("pk", "prompt__text", "response_a__text", "response_b__text"))
    margins = pair_margins(model_version.artifacts_dir, [r[1] for r in rows], [r[2] for r in rows],
                           [r[3] for r in rows], device=device)
    uncertainty = {r[0]: float(u) for r, u in zip(rows, pair_uncertainty(margins), strict=True)}
    return queue_uncertainty_set(datanet=datanet, uncertainty=uncertainty, scored_by=model_version.name)


def queue_score_enqueue(*, datanet: Datanet, model_version: ModelVersion) -> None:
    """Scores the queue in a worker once the current transaction commits (a reward model just registered)."""
    from .tasks import queue_score_run

    datanet_id, version_id = datanet.id, model_version.id
    transaction.on_commit(lambda: queue_score_run.apply_async(args=[datanet_id, version_id], queue="cpu"))
