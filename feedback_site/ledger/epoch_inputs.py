"""One owner of an epoch's settlement inputs: attribution scores and quality flags.

Attribution jobs and quality reports both hand their figures to ``epoch_inputs_record``; nothing
else writes ``EpochAttribution`` or ``EpochQuality``, and settlement reads them back through
``epoch_attribution_active`` and ``epoch_quality_active``.

The rule when an epoch is measured twice: **the set recorded last replaces the earlier set whole**.
- Attribution: one set is active per epoch. When a second model version (or a second job on the
  same version) scores the epoch, every row of the earlier set is superseded, including rows of
  contributors the newer set does not score: they no longer count. Scores of two models are
  never merged row by row, since they are shares of two different improvements.
- Quality: one set is active per epoch and Datanet (a quality report covers one Datanet). A
  newer report of that Datanet replaces the older report's rows whole; other Datanets' reports
  stay. A contributor flagged by any active set is flagged for the epoch; their agreement is
  the mean over the active sets that measured it, weighted by the judgments each measured.
- Fees of a served model version: its contributors' part is split by that version's own latest
  attribution set (the one recorded last, of any epoch up to the one settled; see
  ``model_version_attribution``), even where another version's set has since become the epoch's
  active one: each model's fees pay for what that model learned.
Superseded rows and sets are kept, with ``superseded_by`` naming the set that replaced them, so
what an epoch was once going to be settled on can be audited. Only active rows
(``superseded_by`` empty) are settled.

Each call is one transaction, under the ledger head's lock (the one settlement holds while it
reads), so settlement sees either none of a set or all of it, and a set for an epoch that is
settled meanwhile is refused rather than lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from feedback_site.accounts.models import Contributor

from . import errors, selectors
from .models import EpochAttribution, EpochInputSet, EpochQuality, EpochSettlement, InputSource

SOURCES = tuple(InputSource.values)
# Pseudonyms looked up per query: below every backend's limit on query parameters.
LOOKUP_CHUNK = 5000
INSERT_BATCH = 5000

ATTRIBUTION_FIELDS = ("contributor", "score", "judgments")
QUALITY_FIELDS = ("contributor", "flagged", "agreement", "flags", "judgments")


@dataclass(frozen=True)
class _Row:
    contributor: Contributor
    values: dict[str, Any]


def _refuse_settled(epoch: Any) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise errors.InvalidInput(f"epoch: expected an integer >= 0, got {epoch!r}")
    expected = selectors.epoch_next()
    if epoch < expected:
        settled = EpochSettlement.objects.filter(epoch=epoch).first()
        when = f" at {settled.settled_at:%Y-%m-%d %H:%M:%S} UTC" if settled else ""
        raise errors.EpochAlreadySettled(
            f"epoch {epoch} was already settled{when}: its inputs are final; "
            f"record them for epoch {expected} (the next unsettled one) or later"
        )
    return epoch


def _where(index: int, row: Any, field: str) -> str:
    name = row.get("contributor") if isinstance(row, Mapping) else None
    who = f" (contributor {getattr(name, 'pseudonym', name)!r})" if name is not None else ""
    return f"rows[{index}].{field}{who}"


def _check_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise errors.InvalidInput(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _check_judgments(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.InvalidInput(f"{where}: expected an integer >= 0, got {value!r}")
    return value


def _check_agreement(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise errors.InvalidInput(f"{where}: expected a number in [0, 1] or null, got {value!r}")
    return float(value)


def _check_flagged(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise errors.InvalidInput(f"{where}: expected true or false, got {value!r}")
    return value


def _check_flags(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(code, str) and code for code in value):
        raise errors.InvalidInput(f"{where}: expected a list of flag codes (non-empty strings), got {value!r}")
    return list(value)


_ATTRIBUTION_CHECKS = {"score": _check_score, "judgments": _check_judgments}
_QUALITY_CHECKS = {"flagged": _check_flagged, "agreement": _check_agreement, "flags": _check_flags, "judgments": _check_judgments}
# Quality fields a row may leave out, and what they then are.
_QUALITY_DEFAULTS = {"flags": (), "judgments": 0}


def _contributors(rows: list[Any]) -> dict[str, Contributor]:
    """The contributors the rows name (a Contributor or a pseudonym), by pseudonym."""
    named = {row["contributor"] for row in rows if isinstance(row, Mapping) and isinstance(row.get("contributor"), str)}
    found: dict[str, Contributor] = {}
    names = sorted(named)
    for start in range(0, len(names), LOOKUP_CHUNK):
        found.update(
            (contributor.pseudonym, contributor)
            for contributor in Contributor.objects.filter(pseudonym__in=names[start : start + LOOKUP_CHUNK])
        )
    return found


def _validated(rows: Iterable[Any], checks: dict, fields: tuple[str, ...], defaults: Mapping[str, Any]) -> list[_Row]:
    """Every row checked before anything is written; the first problem is raised with its row and field."""
    rows = list(rows)
    known = _contributors(rows)
    seen: dict[int, int] = {}
    validated = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise errors.InvalidInput(f"rows[{index}]: expected a mapping with {', '.join(fields)}, got {type(row).__name__}")
        unknown_fields = sorted(set(row) - set(fields))
        if unknown_fields:
            raise errors.InvalidInput(f"{_where(index, row, unknown_fields[0])}: unknown field; a row has {', '.join(fields)}")
        name = row.get("contributor")
        contributor = name if isinstance(name, Contributor) and name.pk is not None else known.get(name) if isinstance(name, str) else None
        if contributor is None:
            raise errors.InvalidInput(f"rows[{index}].contributor: unknown contributor {name!r}; give a pseudonym or a saved Contributor")
        if contributor.pk in seen:
            raise errors.InvalidInput(
                f"rows[{index}].contributor: {contributor.pseudonym!r} appears twice (rows {seen[contributor.pk]} and {index}); one row per contributor"
            )
        seen[contributor.pk] = index
        values = {}
        for field, check in checks.items():
            if field not in row and field not in defaults:
                raise errors.InvalidInput(f"{_where(index, row, field)}: missing")
            values[field] = check(row.get(field, defaults.get(field)), _where(index, row, field))
        validated.append(_Row(contributor, values))
    return validated


def _supersede(model, new_set: EpochInputSet, **scope) -> int:
    """Mark the active rows and set of ``scope`` as replaced by ``new_set``; returns rows replaced."""
    source = InputSource.ATTRIBUTION if model is EpochAttribution else InputSource.QUALITY
    EpochInputSet.objects.active().filter(source=source, **scope).exclude(pk=new_set.pk).update(superseded_by=new_set)
    return model.objects.active().filter(**scope).update(superseded_by=new_set)


def epoch_inputs_record(
    *,
    epoch: int,
    source: str,
    rows: Iterable[Mapping[str, Any]],
    model_version=None,
    quality_report=None,
    source_run_id: str = "",
) -> EpochInputSet:
    """Record one whole set of settlement inputs for ``epoch`` (see the module docstring for the rule
    when an epoch is measured twice); returns the new set.

    ``source`` "attribution": rows ``{contributor, score, judgments}``, ``model_version`` (the
    ModelVersion the scores came from) required. ``source`` "quality": rows ``{contributor,
    flagged, agreement, flags=[], judgments=0}`` (agreement in [0, 1] or None), ``quality_report``
    (the QualityReport they came from) required. A contributor is a pseudonym or a Contributor.

    Refused, with nothing written: an epoch already settled (EpochAlreadySettled), an epoch that is
    not an integer >= 0, an unknown source, a missing model version or report, and any bad row
    (unknown or repeated contributor, a score that is not finite, negative judgments, an agreement
    outside [0, 1]): InvalidInput naming the row and the field.
    """
    from .services import head_lock  # services re-exports this module's service

    if source not in SOURCES:
        raise errors.InvalidInput(f"source: expected one of {', '.join(SOURCES)}, got {source!r}")
    if source == InputSource.ATTRIBUTION:
        if model_version is None or getattr(model_version, "pk", None) is None:
            raise errors.InvalidInput("model_version: attribution scores need the saved ModelVersion they came from")
        if quality_report is not None:
            raise errors.InvalidInput("quality_report: attribution scores come from a model version, not a quality report")
        validated = _validated(rows, _ATTRIBUTION_CHECKS, ATTRIBUTION_FIELDS, {})
    else:
        if quality_report is None or getattr(quality_report, "pk", None) is None:
            raise errors.InvalidInput("quality_report: quality flags need the saved QualityReport they came from")
        if model_version is not None:
            raise errors.InvalidInput("model_version: quality flags come from a quality report, not a model version")
        validated = _validated(rows, _QUALITY_CHECKS, QUALITY_FIELDS, _QUALITY_DEFAULTS)
    with transaction.atomic():
        head_lock()  # settlement reads the inputs under this lock: it waits for the whole set
        epoch = _refuse_settled(epoch)
        if source == InputSource.ATTRIBUTION:
            return _record_attribution(epoch, validated, model_version, source_run_id)
        return _record_quality(epoch, validated, quality_report, source_run_id)


def _record_attribution(epoch: int, validated: list[_Row], model_version, source_run_id: str) -> EpochInputSet:
    new_set = EpochInputSet.objects.create(
        epoch=epoch, source=InputSource.ATTRIBUTION, model_version=model_version, source_run_id=source_run_id, rows=len(validated)
    )
    _supersede(EpochAttribution, new_set, epoch=epoch)
    EpochAttribution.objects.bulk_create(
        [
            EpochAttribution(
                epoch=epoch, contributor=row.contributor, model_version=model_version, input_set=new_set,
                source_run_id=source_run_id, **row.values,
            )
            for row in validated
        ],
        batch_size=INSERT_BATCH,
    )
    return new_set


def _record_quality(epoch: int, validated: list[_Row], quality_report, source_run_id: str) -> EpochInputSet:
    datanet_id = quality_report.datanet_id
    new_set = EpochInputSet.objects.create(
        epoch=epoch, source=InputSource.QUALITY, quality_report=quality_report, datanet_id=datanet_id,
        source_run_id=source_run_id, rows=len(validated),
    )
    _supersede(EpochQuality, new_set, epoch=epoch, datanet_id=datanet_id)
    EpochQuality.objects.bulk_create(
        [
            EpochQuality(epoch=epoch, contributor=row.contributor, datanet_id=datanet_id, input_set=new_set, **row.values)
            for row in validated
        ],
        batch_size=INSERT_BATCH,
    )
    return new_set


# --- what settlement reads ------------------------------------------------------------------------


def epoch_attribution_active(*, epoch: int):
    """The epoch's attribution rows settlement pays by: the latest recorded set's."""
    return EpochAttribution.objects.active().filter(epoch=epoch)


def model_version_attribution(*, model_version_id: int, epoch: int):
    """The attribution rows of a model version's latest recorded set up to ``epoch`` (none: no rows):
    who taught that version, and by how much, for splitting the fees its calls paid."""
    latest = (
        EpochInputSet.objects.filter(source=InputSource.ATTRIBUTION, model_version_id=model_version_id, epoch__lte=epoch)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return EpochAttribution.objects.filter(input_set_id=latest) if latest is not None else EpochAttribution.objects.none()


@dataclass(frozen=True)
class EpochQualityInputs:
    """The epoch's quality, by contributor pseudonym: who is flagged, and agreement in [0, 1]."""

    flagged: frozenset[str]
    agreement: dict[str, float]


def epoch_quality_active(*, epoch: int) -> EpochQualityInputs:
    """Combine the epoch's active quality sets (one per Datanet): flagged by any, agreement
    weighted by the judgments each set measured (equally where none counted judgments)."""
    flagged = set()
    sums: dict[str, list[float]] = {}
    for pseudonym, is_flagged, agreement, judgments in (
        EpochQuality.objects.active()
        .filter(epoch=epoch)
        .values_list("contributor__pseudonym", "flagged", "agreement", "judgments")
        .order_by("contributor_id", "datanet_id")
    ):
        if is_flagged:
            flagged.add(pseudonym)
        if agreement is not None:
            weight = max(judgments, 1)
            total = sums.setdefault(pseudonym, [0.0, 0.0])
            total[0] += agreement * weight
            total[1] += weight
    # min(): a weighted mean of numbers in [0, 1] can exceed 1 by a rounding error.
    return EpochQualityInputs(
        flagged=frozenset(flagged), agreement={name: min(1.0, total / weight) for name, (total, weight) in sums.items()}
    )
