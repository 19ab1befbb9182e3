"""Writes: Datanets, imports, judgments' revisions, snapshots; serving and judging come from `judging`.

Every service is keyword-only and atomic: it either does all of its work or raises a
`ServiceError` and leaves the database as it was.
"""

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from feedback_site.accounts.services import contributor_for
from rlhf import active
from rlhf.active import shuffle_key

from . import errors, judging
from .importing import ImportProblem, ParseResult, parse_jsonl
from .judging import (  # noqa: F401  (the judging loop's services, called as services.<name>)
    MAX_EDITED_REPLY_CHARS,
    MAX_RATIONALE_CHARS,
    MAX_TIME_SPENT_MS,
    assignment_next,
    assignment_next_with_token,
    judgment_submit,
    judgment_submit_with_token,
    token_checked_before,
)
from .models import Comparison, Datanet, ImportBatch, Judgment, Prompt, Response, Snapshot


def datanet_create(
    *,
    name: str,
    domain: str = "",
    guidelines: str = "",
    overlap: int = 3,
    gold_rate: float = 0.0,
    max_pending: int = 5,
    lock_minutes: int = 10,
    assignment_strategy: str = active.RANDOM,
    random_share: float = active.DEFAULT_RANDOM_SHARE,
    created_by=None,
) -> Datanet:
    name = (name or "").strip()
    if not name:
        raise errors.InvalidInput("name: a Datanet needs a name")
    slug = slugify(name)
    if not slug:
        raise errors.InvalidInput("name: must contain at least one letter or digit")
    if not 1 <= int(overlap) <= 50:
        raise errors.InvalidInput("overlap: must be between 1 and 50 annotators per comparison")
    if not 0.0 <= float(gold_rate) <= 1.0:
        raise errors.InvalidInput("gold_rate: must be between 0 and 1")
    if int(max_pending) < 1 or int(lock_minutes) < 1:
        raise errors.InvalidInput("max_pending and lock_minutes must be at least 1")
    datanet_strategy_check(assignment_strategy=assignment_strategy, random_share=random_share)
    if Datanet.objects.filter(Q(name=name) | Q(slug=slug)).exists():
        raise errors.InvalidInput(f"name: a Datanet named {name!r} already exists")
    return Datanet.objects.create(
        name=name,
        slug=slug,
        domain=domain.strip(),
        guidelines=guidelines,
        overlap=overlap,
        gold_rate=gold_rate,
        max_pending=max_pending,
        lock_minutes=lock_minutes,
        assignment_strategy=assignment_strategy,
        random_share=random_share,
        created_by=created_by,
    )


def datanet_strategy_check(*, assignment_strategy: str, random_share) -> None:
    """InvalidInput naming the field where a Datanet's assignment strategy or its random share is not one
    `rlhf.active` serves."""
    if assignment_strategy not in active.STRATEGIES:
        raise errors.InvalidInput(
            f"assignment_strategy: must be one of {', '.join(active.STRATEGIES)} (got {assignment_strategy!r})")
    try:
        share = float(random_share)
    except (TypeError, ValueError):
        raise errors.InvalidInput(f"random_share: must be a number between 0 and 1 (got {random_share!r})") from None
    if not 0.0 <= share <= 1.0:
        raise errors.InvalidInput(f"random_share: must be between 0 and 1 (got {random_share!r})")


def datanet_strategy_set(*, datanet: Datanet, assignment_strategy: str, random_share=None) -> Datanet:
    """Changes how the Datanet's queue is ordered from the next request on (assignments already served keep the
    strategy they were served by)."""
    random_share = datanet.random_share if random_share is None else random_share
    datanet_strategy_check(assignment_strategy=assignment_strategy, random_share=random_share)
    datanet.assignment_strategy, datanet.random_share = assignment_strategy, float(random_share)
    datanet.save(update_fields=["assignment_strategy", "random_share"])
    return datanet


def datanet_member_add(*, datanet: Datanet, user) -> None:
    contributor_for(user=user)
    datanet.members.add(user)


def datanet_import(
    *, datanet: Datanet, stream, filename: str = "", origin: str, created_by=None, skip_invalid: bool = False
) -> ImportBatch:
    """Imports a JSONL stream (binary lines) into the Datanet, all or nothing.

    Raises `ImportRejected` listing every problem (line, field) and then nothing is stored. With
    `skip_invalid`, a line with a problem is left out instead and its problems are kept on the batch
    (`ImportBatch.skipped`); a problem of the whole file (too large, no valid line) still refuses it.
    """
    parsed = parse_jsonl(
        stream, max_line_bytes=settings.IMPORT_MAX_LINE_BYTES, max_bytes=settings.IMPORT_MAX_UPLOAD_BYTES
    )
    return _store_import(
        datanet=datanet, parsed=parsed, filename=filename, origin=origin, created_by=created_by,
        skip_invalid=skip_invalid,
    )


def _store_import(*, datanet, parsed: ParseResult, filename, origin, created_by, skip_invalid: bool) -> ImportBatch:
    problems = list(parsed.problems)
    ids = [p.external_id for p in parsed.prompts]
    existing: set[str] = set()
    for start in range(0, len(ids), 5000):
        existing.update(
            Prompt.objects.filter(datanet=datanet, external_id__in=ids[start : start + 5000]).values_list(
                "external_id", flat=True
            )
        )
    for p in parsed.prompts:
        if p.external_id in existing:
            problems.append(
                ImportProblem(p.line, "id", f"prompt id {p.external_id!r} already exists in Datanet {datanet.name!r}")
            )
    problems.sort(key=lambda p: p.line)
    bad_lines = {p.line for p in problems}
    accepted = [p for p in parsed.prompts if p.line not in bad_lines]
    if problems and (not skip_invalid or 0 in bad_lines):
        raise errors.ImportRejected(problems, filename)
    if not accepted:
        raise errors.ImportRejected(
            [*problems, ImportProblem(0, "", "no valid line is left to import once the invalid ones are skipped")],
            filename,
        )
    parsed = ParseResult(prompts=accepted, problems=[], sha256=parsed.sha256)
    skipped = [p.as_dict() for p in problems]

    with transaction.atomic():
        batch = ImportBatch.objects.create(
            datanet=datanet, origin=origin, filename=filename[:255], sha256=parsed.sha256, created_by=created_by,
            skipped=skipped,
        )
        prompts = Prompt.objects.bulk_create(
            [Prompt(datanet=datanet, external_id=p.external_id, text=p.text, import_batch=batch) for p in parsed.prompts],
            batch_size=2000,
        )
        responses = Response.objects.bulk_create(
            [
                Response(prompt=row, text=r.text, source_model=r.source_model, position=i)
                for row, p in zip(prompts, parsed.prompts, strict=True)
                for i, r in enumerate(p.responses)
            ],
            batch_size=2000,
        )
        comparisons = []
        offset = 0
        for row, p in zip(prompts, parsed.prompts, strict=True):
            stored = responses[offset : offset + len(p.responses)]
            offset += len(p.responses)
            for i, j, reference, gold in p.pairs:
                comparisons.append(
                    Comparison(
                        datanet=datanet,
                        prompt=row,
                        response_a=stored[i],
                        response_b=stored[j],
                        reference_choice=reference,
                        gold_choice=gold,
                        shuffle_key=shuffle_key(row.text, stored[i].text, stored[j].text),
                    )
                )
        Comparison.objects.bulk_create(comparisons, batch_size=2000)
        batch.prompts_created = len(prompts)
        batch.comparisons_created = len(comparisons)
        batch.save(update_fields=["prompts_created", "comparisons_created"])
    if connection.vendor == "postgresql" and len(comparisons) >= 1000:
        # A bulk load leaves the planner's statistics stale until autovacuum comes by; with stale ones the
        # assignment query sorts the whole queue instead of walking its index.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotation_comparison, annotation_prompt, annotation_response")
    return batch


def generated_comparisons_add(
    *, prompt: Prompt, replies: list[tuple[str, str, dict]], pairs: list[tuple[int, int]]
) -> tuple[int, int]:
    """Stores generated replies to a prompt and the comparisons between them in the prompt's Datanet queue.

    `replies` are (text, source model, provenance) and `pairs` index into them. A pair that is not a valid
    preference pair by the one rule of import, export and training (`rlhf.data.preference_pair_problem`: the
    same text twice, a NUL character) makes no comparison, and only replies in a stored pair are stored.
    Returns (comparisons stored, pairs left out). Runs inside the caller's transaction, so a caller that records
    the prompt as done in the same one never stores it twice."""
    from rlhf.data import preference_pair_problem

    valid = [(i, j) for i, j in pairs if preference_pair_problem(prompt.text, replies[i][0], replies[j][0]) is None]
    used = sorted({index for pair in valid for index in pair})
    if not used:
        return 0, len(pairs)
    first = (Response.objects.filter(prompt=prompt).order_by("-position").values_list("position", flat=True).first()
             or 0) + 1
    with transaction.atomic():
        stored = Response.objects.bulk_create([
            Response(prompt=prompt, text=replies[i][0], source_model=replies[i][1][:200], generation=replies[i][2],
                     position=first + n)
            for n, i in enumerate(used)
        ])
        by_index = dict(zip(used, stored, strict=True))
        Comparison.objects.bulk_create([
            Comparison(datanet_id=prompt.datanet_id, prompt=prompt, response_a=by_index[i], response_b=by_index[j],
                       shuffle_key=shuffle_key(prompt.text, by_index[i].text, by_index[j].text))
            for i, j in valid
        ])
    return len(valid), len(pairs) - len(valid)


def queue_uncertainty_set(*, datanet: Datanet, uncertainty: dict[int, float], scored_by: str) -> int:
    """Sets how unsure `scored_by` (a reward model version) is of each of the Datanet's comparisons, the order
    the uncertainty strategy serves. Comparisons it did not score keep their value. Returns how many changed."""
    changed = [Comparison(pk=cid, uncertainty=float(value)) for cid, value in uncertainty.items()]
    with transaction.atomic():
        known = set(Comparison.objects.filter(datanet=datanet, pk__in=list(uncertainty)).values_list("pk", flat=True))
        if len(known) != len(uncertainty):
            raise errors.InvalidInput(f"comparisons {sorted(set(uncertainty) - known)[:5]}: not in Datanet {datanet.name!r}")
        Comparison.objects.bulk_update(changed, ["uncertainty"], batch_size=2000)
        Datanet.objects.filter(pk=datanet.pk).update(scored_by=scored_by[:200], scored_at=timezone.now())
    return len(changed)


def judgment_revise(
    *,
    annotator,
    judgment_id: int,
    choice: str,
    strength,
    time_spent_ms,
    rationale: str = "",
    edited_reply: str = "",
    idempotency_key: str | None = None,
    now=None,
) -> Judgment:
    """Adds a revision of one of the annotator's own judgments: a new row, the old one kept as history."""
    fields = judging.rules.judgment_fields(choice=choice, strength=strength, rationale=rationale,
                                           edited_reply=edited_reply, time_spent_ms=time_spent_ms,
                                           idempotency_key=idempotency_key)
    now = now or timezone.now()
    with transaction.atomic():
        previous = (
            Judgment.objects.select_for_update().filter(pk=judgment_id, annotator=annotator).select_related("assignment").first()
        )
        if previous is None:
            raise errors.NotAssigned("You can only revise your own judgments.")
        key = fields.idempotency_key
        if key and Judgment.objects.filter(idempotency_key=key).exists():
            raise errors.DuplicateSubmission("This revision was already submitted (same idempotency key).")
        if Judgment.objects.filter(revision_of=previous).exists():
            raise errors.AlreadySubmitted("This judgment was already revised: revise its latest revision.")
        judging.judgments_changed(previous.datanet_id)
        try:
            with transaction.atomic():
                return judging.orm.judgment_create(assignment=previous.assignment, datanet_id=previous.datanet_id,
                                                   annotator=annotator, fields=fields, now=now, revision_of=previous)
        except IntegrityError:
            raise errors.DuplicateSubmission("This revision was already submitted.") from None


def snapshot_create(*, datanet: Datanet, created_by=None, note: str = "", aggregation: str = "majority") -> Snapshot:
    """Freezes every judgment of the Datanet so far into an immutable, content-hashed snapshot.

    Annotators excluded from the Datanet at this moment are left out, and the exclusions (who, why,
    since when) and the aggregation of the preference export are recorded in its metadata.
    """
    from feedback_site.quality.services import exclusions_active

    from .exports import AGGREGATIONS, snapshot_digest

    if aggregation not in AGGREGATIONS:
        raise errors.InvalidInput(f"aggregation: must be one of {', '.join(AGGREGATIONS)}")
    exclusions = exclusions_active(datanet_id=datanet.id)
    cutoff = Judgment.objects.filter(datanet=datanet).order_by("-id").values_list("id", flat=True).first()
    if cutoff is None:
        raise errors.SnapshotEmpty(f"Datanet {datanet.name!r} has no judgments yet: nothing to snapshot.")
    digest = snapshot_digest(
        datanet=datanet, cutoff_judgment_id=cutoff, excluded=[e["contributor"] for e in exclusions], aggregation=aggregation
    )
    return Snapshot.objects.create(
        datanet=datanet,
        cutoff_judgment_id=cutoff,
        content_hash=digest.content_hash,
        counts=digest.counts,
        metadata={**digest.metadata, "exclusions": exclusions, "note": note},
        created_by=created_by,
    )
