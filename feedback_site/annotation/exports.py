"""The two exports of a snapshot, streamed so that memory stays flat at any size.

TRL preference set (``--format trl``; ``hf`` is the same rows as a Hugging Face ``datasets`` folder)
------------------------------------------------------------------------------------------------
One row per comparison that has a majority preference, in comparison order::

    {"row_id": "cmp-17", "comparison_id": 17, "prompt": "...", "chosen": "...", "rejected": "...",
     "margin": 1.67, "judgment_ids": [40, 41, 44], "contributor_ids": ["c_1a2b...", ...]}

Rules, applied to each comparison's *current* judgments (the latest revision of each annotator's
judgment with id <= the snapshot's cutoff, annotators excluded from the snapshot left out):

- A judgment for a or b is a vote; ``tie`` and ``both_bad`` are no vote for either side.
- The side with more votes is ``chosen``. Equal votes (a split, or only ties/both-bad) give no
  row: a preference set cannot say which is better, so the comparison is counted in the
  snapshot's ``skipped`` counts by reason (``split``, ``tie``, ``both_bad``) instead.
- A row is a valid pair by the one rule that import and training apply
  (``rlhf.data.preference_pair_problem``); one that is not (stored before the rule, or written
  around the import) is left out and counted as ``invalid``, so training never meets it.
- ``margin`` = (sum of the strengths of the votes for ``chosen`` - sum of those for ``rejected``)
  / number of current judgments, with strengths slightly=1, clearly=2, much=3. It grows with both
  the strength and the agreement of the judgments, and ties and both-bad dilute it.
- ``judgment_ids`` lists every current judgment of the comparison, dissenting ones included, and
  ``contributor_ids`` the pseudonymous contributor of each, in the same order: attribution maps
  each row back to the people behind it.

With ``aggregation="reliability"`` the label is the Dawid-Skene estimate of the comparison's true
answer (``rlhf.quality``: annotators weighted by their estimated reliability, gold answers clamped),
and ``margin`` = (posterior of chosen - posterior of rejected) x the mean strength of the votes for
chosen (1 when nobody voted for it); comparisons whose estimate is a tie give no row.

A comparison of generated replies (the online loop's generation jobs) also carries ``generation``:
``{"chosen": ..., "rejected": ...}``, what produced each reply (``Response.generation``: the job, the
model version or base model, the sampling settings and the prompt's seed; null for an imported reply).
Rows of imported comparisons are as they were without it, so their snapshots' hashes are unchanged.

With ``aggregation="each"`` every current a/b judgment becomes its own row (row id
``j-<judgment id>``, margin = its strength), for methods that model each annotator.

The snapshot records which aggregation it was frozen with; its exports use that one.

Feedback log (``--format log``)
-------------------------------
One row per judgment event, revisions included, as specified in
``simulator/schemas/feedback_log.v1.json``; an event on a comparison of generated replies carries
``generation``: ``{"a": ..., "b": ...}``, as above.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from django.db.models import Q

from rlhf.data import preference_pair_problem
from simulator.feedback_log import SCHEMA_VERSION as FEEDBACK_LOG_SCHEMA_VERSION
from simulator.feedback_log import STRENGTHS

from .models import Comparison, Datanet, Judgment, Snapshot

TRL_EXPORT_VERSION = 1
AGGREGATIONS = ("majority", "reliability", "each")
CHUNK = 5000


@dataclass(frozen=True)
class JudgmentRow:
    id: int
    comparison_id: int
    assignment_id: int
    annotator_user_id: int
    contributor: str
    choice: str
    strength: int
    shown_left: str
    time_spent_ms: int
    served_at: object
    submitted_at: object
    revision_of: int | None


def _judgments(datanet_id: int, cutoff: int) -> Iterator[JudgmentRow]:
    rows = (
        Judgment.objects.filter(datanet_id=datanet_id, id__lte=cutoff)
        .order_by("comparison_id", "id")
        .values_list(
            "id",
            "comparison_id",
            "assignment_id",
            "annotator_id",
            "annotator__contributor__pseudonym",
            "choice",
            "strength",
            "shown_left",
            "time_spent_ms",
            "assignment__served_at",
            "submitted_at",
            "revision_of_id",
        )
        .iterator(chunk_size=CHUNK)
    )
    for row in rows:
        yield JudgmentRow(*row)


def _comparisons(datanet_id: int) -> Iterator[tuple]:
    return (
        Comparison.objects.filter(datanet_id=datanet_id)
        .order_by("id")
        .values_list("id", "prompt__text", "response_a__text", "response_b__text")
        .iterator(chunk_size=CHUNK)
    )


def generated_sides(datanet_id: int) -> dict[int, dict[str, dict | None]]:
    """What produced each side of the Datanet's comparisons of generated replies, by comparison id."""
    rows = (
        Comparison.objects.filter(datanet_id=datanet_id)
        .filter(Q(response_a__generation__isnull=False) | Q(response_b__generation__isnull=False))
        .values_list("id", "response_a__generation", "response_b__generation")
        .iterator(chunk_size=CHUNK)
    )
    return {cid: {"a": a, "b": b} for cid, a, b in rows}


def _with_generation(row: dict, sides: dict[str, dict | None] | None, chosen: str) -> dict:
    if sides is not None:
        row["generation"] = {"chosen": sides[chosen], "rejected": sides["b" if chosen == "a" else "a"]}
    return row


def current_judgments(events: Iterable[JudgmentRow], excluded: frozenset[str]) -> list[JudgmentRow]:
    """The latest revision of each assignment's judgment among one comparison's events."""
    latest: dict[int, JudgmentRow] = {}
    for event in events:
        if event.contributor in excluded:
            continue
        if event.assignment_id not in latest or event.id > latest[event.assignment_id].id:
            latest[event.assignment_id] = event
    return sorted(latest.values(), key=lambda j: j.id)


def _snapshot_scope(snapshot: Snapshot) -> tuple[int, int, frozenset[str]]:
    return snapshot.datanet_id, snapshot.cutoff_judgment_id, frozenset(snapshot.metadata.get("excluded_contributors", []))


@dataclass
class TrlStats:
    rows: int = 0
    comparisons_judged: int = 0
    current_judgments: int = 0
    skipped_split: int = 0
    skipped_tie: int = 0
    skipped_both_bad: int = 0
    skipped_invalid: int = 0

    def as_dict(self) -> dict:
        return {
            "trl_rows": self.rows,
            "comparisons_judged": self.comparisons_judged,
            "current_judgments": self.current_judgments,
            "skipped": {"split": self.skipped_split, "tie": self.skipped_tie, "both_bad": self.skipped_both_bad,
                        "invalid": self.skipped_invalid},
        }


def _majority_row(cid, prompt, text_a, text_b, current: list[JudgmentRow], stats: TrlStats) -> dict | None:
    votes = {"a": 0, "b": 0}
    weight = {"a": 0, "b": 0}
    for j in current:
        if j.choice in votes:
            votes[j.choice] += 1
            weight[j.choice] += j.strength
    if votes["a"] == votes["b"]:
        if votes["a"]:
            stats.skipped_split += 1
        elif all(j.choice == "both_bad" for j in current):
            stats.skipped_both_bad += 1
        else:
            stats.skipped_tie += 1
        return None
    winner, loser = ("a", "b") if votes["a"] > votes["b"] else ("b", "a")
    texts = {"a": text_a, "b": text_b}
    return {
        "row_id": f"cmp-{cid}",
        "comparison_id": cid,
        "prompt": prompt,
        "chosen": texts[winner],
        "rejected": texts[loser],
        "margin": round((weight[winner] - weight[loser]) / len(current), 6),
        "judgment_ids": [j.id for j in current],
        "contributor_ids": [j.contributor for j in current],
    }


def _reliability_row(cid, prompt, text_a, text_b, current, stats: TrlStats, estimate) -> dict | None:
    label, posterior = estimate.get(cid, (None, {}))
    if label not in ("a", "b"):
        stats.skipped_tie += 1
        return None
    loser = "b" if label == "a" else "a"
    agreeing = [j.strength for j in current if j.choice == label]
    strength = sum(agreeing) / len(agreeing) if agreeing else 1.0
    texts = {"a": text_a, "b": text_b}
    return {
        "row_id": f"cmp-{cid}",
        "comparison_id": cid,
        "prompt": prompt,
        "chosen": texts[label],
        "rejected": texts[loser],
        "margin": round((posterior.get(label, 0.0) - posterior.get(loser, 0.0)) * strength, 6),
        "judgment_ids": [j.id for j in current],
        "contributor_ids": [j.contributor for j in current],
    }


def _reliability_estimate(datanet_id: int, judgments) -> dict[int, tuple[str | None, dict]]:
    """Dawid-Skene label and posterior of every judged comparison (`judgments`: quality records or their table)."""
    from rlhf.quality import dawid_skene_estimate, judgment_table

    table = judgment_table(judgments)
    if not table.size:
        return {}
    gold = {str(c): g for c, g in Comparison.objects.filter(datanet_id=datanet_id).exclude(gold_choice="").values_list("id", "gold_choice")}
    result = dawid_skene_estimate(table, gold)
    return {int(cid): (label.label, label.posterior) for cid, label in result.comparisons.items()}


def _each_rows(cid, prompt, text_a, text_b, current: list[JudgmentRow], stats: TrlStats) -> Iterator[dict]:
    texts = {"a": text_a, "b": text_b}
    for j in current:
        if j.choice not in texts:
            if j.choice == "tie":
                stats.skipped_tie += 1
            else:
                stats.skipped_both_bad += 1
            continue
        loser = "b" if j.choice == "a" else "a"
        yield {
            "row_id": f"j-{j.id}",
            "comparison_id": cid,
            "prompt": prompt,
            "chosen": texts[j.choice],
            "rejected": texts[loser],
            "margin": float(j.strength),
            "judgment_ids": [j.id],
            "contributor_ids": [j.contributor],
        }


def _checked_aggregation(aggregation: str) -> str:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, not {aggregation!r}")
    return aggregation


def trl_rows(snapshot: Snapshot, *, aggregation: str | None = None, stats: TrlStats | None = None) -> Iterator[dict]:
    """TRL preference rows of the snapshot, in comparison order, by the rules in this module's docstring."""
    aggregation = _checked_aggregation(aggregation or snapshot.metadata.get("aggregation", "majority"))
    stats = stats if stats is not None else TrlStats()
    datanet_id, cutoff, excluded = _snapshot_scope(snapshot)
    estimate = _reliability_estimate(datanet_id, judgment_quality_records(datanet_id, cutoff, excluded)) if aggregation == "reliability" else None
    yield from _trl_rows(datanet_id, cutoff, excluded, aggregation, stats, estimate)


def _trl_rows(datanet_id: int, cutoff: int, excluded: frozenset[str], aggregation: str, stats: TrlStats, estimate) -> Iterator[dict]:
    texts = _comparisons(datanet_id)
    generated = generated_sides(datanet_id)
    for cid, events in groupby(_judgments(datanet_id, cutoff), key=lambda j: j.comparison_id):
        yield from _comparison_trl_rows(cid, current_judgments(events, excluded), texts, aggregation, stats, estimate,
                                        generated.get(cid))


def _comparison_trl_rows(cid, current: list[JudgmentRow], texts: Iterator[tuple], aggregation: str, stats: TrlStats, estimate,
                         sides: dict[str, dict | None] | None = None) -> Iterator[dict]:
    """The TRL rows of one comparison's current judgments; `texts` is the comparison stream, advanced to `cid`."""
    if not current:
        return
    # Both streams are ordered by comparison id: advance the text stream to this comparison.
    text_row = next((row for row in texts if row[0] == cid), None)
    if text_row is None:
        raise RuntimeError(f"comparison {cid} has judgments but is not in its Datanet")
    _, prompt, text_a, text_b = text_row
    stats.comparisons_judged += 1
    stats.current_judgments += len(current)
    if aggregation == "each":
        rows: Iterable[dict | None] = _each_rows(cid, prompt, text_a, text_b, current, stats)
    elif aggregation == "majority":
        rows = [_majority_row(cid, prompt, text_a, text_b, current, stats)]
    else:
        rows = [_reliability_row(cid, prompt, text_a, text_b, current, stats, estimate)]
    for row in rows:
        if row is None:
            continue
        if preference_pair_problem(row["prompt"], row["chosen"], row["rejected"]) is not None:
            # Stored before the import applied the shared rule (or written around it): training would refuse it.
            stats.skipped_invalid += 1
            continue
        stats.rows += 1
        # Valid rows have two different texts, so the chosen text says which side was chosen.
        yield _with_generation(row, sides, "a" if row["chosen"] == text_a else "b")


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _datanet_name(datanet_id: int) -> str:
    return Datanet.objects.filter(pk=datanet_id).values_list("name", flat=True).get()


def feedback_log_rows(snapshot: Snapshot) -> Iterator[dict]:
    """Every judgment event of the snapshot, revisions included, in the feedback-log schema."""
    datanet_id, cutoff, excluded = _snapshot_scope(snapshot)
    datanet_name = _datanet_name(datanet_id)
    generated = generated_sides(datanet_id)
    for j in _judgments(datanet_id, cutoff):
        if j.contributor not in excluded:
            yield _log_row(j, datanet_name, generated.get(j.comparison_id))


def _log_row(j: JudgmentRow, datanet_name: str, sides: dict[str, dict | None] | None = None) -> dict:
    row = {
        "schema_version": FEEDBACK_LOG_SCHEMA_VERSION,
        "judgment_id": j.id,
        "annotator": j.contributor,
        "datanet": datanet_name,
        "comparison_id": j.comparison_id,
        "choice": j.choice,
        "strength": STRENGTHS[j.strength - 1],
        "shown_left": j.shown_left,
        "time_spent_ms": j.time_spent_ms,
        "served_at": _iso(j.served_at),
        "submitted_at": _iso(j.submitted_at),
        "revision_of": j.revision_of,
    }
    if sides is not None:
        row["generation"] = sides
    return row


def encode_row(row: dict) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def write_jsonl(rows: Iterable[dict], handle) -> str:
    """Writes rows to a binary handle (None: only hash them); returns the sha256 of the bytes."""
    digest = hashlib.sha256()
    buffer = []
    size = 0
    for row in rows:
        data = encode_row(row)
        digest.update(data)
        if handle is not None:
            buffer.append(data)
            size += len(data)
            if size > 1 << 20:  # write in ~1 MiB pieces: far fewer syscalls than per row
                handle.write(b"".join(buffer))
                buffer, size = [], 0
    if handle is not None and buffer:
        handle.write(b"".join(buffer))
    return digest.hexdigest()


@dataclass(frozen=True)
class SnapshotDigest:
    content_hash: str
    counts: dict
    metadata: dict


def snapshot_digest(
    *, datanet: Datanet, cutoff_judgment_id: int, excluded: list[str] | None = None, aggregation: str = "majority"
) -> SnapshotDigest:
    """Hashes both exports of the would-be snapshot: the content hash covers exactly what is exported.

    The hashes are those of the bytes `snapshot_export` writes. Both exports list the judgments in (comparison, id)
    order, so one read of them feeds the log hash, the counts, the TRL hash and the records of the agreement measure.
    A reliability export is the exception: its labels come from a Dawid-Skene fit over every judgment, known only
    after that read, so its rows are hashed in a second read, the fit taking the first read's records.
    """
    from rlhf.quality import judgment_table, krippendorff_alpha

    aggregation = _checked_aggregation(aggregation)
    datanet_id, cutoff, excluded_set = datanet.id, cutoff_judgment_id, frozenset(excluded or [])
    stats = TrlStats()
    read = _DigestRead()
    trl_in_read = aggregation if aggregation != "reliability" else None
    table = judgment_table(_quality_records(_digest_read(datanet_id, cutoff, excluded_set, trl_in_read, stats, read)))
    if trl_in_read:
        trl_sha = read.trl.hexdigest()
    else:
        estimate = _reliability_estimate(datanet_id, table)
        trl_sha = write_jsonl(_trl_rows(datanet_id, cutoff, excluded_set, aggregation, stats, estimate), None)
    log_sha = read.log.hexdigest()
    agreement = {"krippendorff_alpha": krippendorff_alpha(table, seed=0).as_dict()}
    content_hash = hashlib.sha256(f"trl:{trl_sha}\nlog:{log_sha}\n".encode()).hexdigest()
    counts = {**stats.as_dict(), "judgment_events": read.events, "annotators": len(read.annotators)}
    metadata = {
        "trl_export_version": TRL_EXPORT_VERSION,
        "feedback_log_schema_version": FEEDBACK_LOG_SCHEMA_VERSION,
        "aggregation": aggregation,
        "trl_sha256": trl_sha,
        "log_sha256": log_sha,
        "excluded_contributors": sorted(excluded or []),
        "agreement": agreement,
    }
    return SnapshotDigest(content_hash=content_hash, counts=counts, metadata=metadata)


@dataclass
class _DigestRead:
    """What `_digest_read` accumulates besides the events it yields."""

    log: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    trl: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    events: int = 0
    annotators: set[str] = field(default_factory=set)


def _digest_read(
    datanet_id: int, cutoff: int, excluded: frozenset[str], trl_aggregation: str | None, stats: TrlStats, read: _DigestRead
) -> Iterator[JudgmentRow]:
    """One read of the snapshot's judgments: yields the events of the feedback log and, on the way, hashes their log
    rows (and, given an aggregation, each comparison's TRL rows) into `read`.

    `read` is complete once the events are exhausted. Handing them straight to `judgment_table` (as quality records)
    keeps them from ever being held as a list.
    """
    datanet_name = _datanet_name(datanet_id)
    texts = _comparisons(datanet_id)
    generated = generated_sides(datanet_id)
    for cid, group in groupby(_judgments(datanet_id, cutoff), key=lambda j: j.comparison_id):
        events = [j for j in group if j.contributor not in excluded]  # one comparison's: a handful
        sides = generated.get(cid)
        for j in events:
            read.log.update(encode_row(_log_row(j, datanet_name, sides)))
            read.events += 1
            read.annotators.add(j.contributor)
            yield j
        if trl_aggregation:
            for row in _comparison_trl_rows(cid, current_judgments(events, excluded), texts, trl_aggregation, stats, None,
                                            sides):
                read.trl.update(encode_row(row))


def judgment_quality_records(datanet_id: int, cutoff: int, excluded: frozenset[str] = frozenset()) -> list[dict]:
    """The snapshot's judgment events as `rlhf.quality` reads them (it keeps each annotator's latest per comparison)."""
    return list(_quality_records(j for j in _judgments(datanet_id, cutoff) if j.contributor not in excluded))


def _quality_records(events: Iterable[JudgmentRow]) -> Iterator[dict]:
    """Records of events in comparison order. They share one id string per comparison and per annotator: the
    estimators hold every record until their table is built, and a million copies of the same strings add up."""
    names: dict[str, str] = {}
    comparison_id, comparison = None, ""
    for j in events:
        if j.comparison_id != comparison_id:
            comparison_id, comparison = j.comparison_id, str(j.comparison_id)
        yield {"comparison_id": comparison, "annotator_id": names.setdefault(j.contributor, j.contributor), "choice": j.choice,
               "strength": j.strength, "shown_left": j.shown_left, "time_spent_ms": j.time_spent_ms}


EXPORT_FORMATS = ("trl", "hf", "log")


def snapshot_export(*, snapshot: Snapshot, export_format: str, out: Path) -> Path:
    """Writes one export of the snapshot to `out` (a file; a folder for `hf`) and returns the path."""
    out = Path(out)
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {export_format!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if export_format == "log":
        with out.open("wb") as handle:
            write_jsonl(feedback_log_rows(snapshot), handle)
        return out
    if export_format == "trl":
        with out.open("wb") as handle:
            write_jsonl(trl_rows(snapshot), handle)
        return out
    return _export_hf(snapshot, out)


def _export_hf(snapshot: Snapshot, out: Path) -> Path:
    import tempfile

    import datasets

    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "rows.jsonl"
        stats = TrlStats()
        with jsonl.open("wb") as handle:
            # A datasets column holds one type: the provenance of generated replies as JSON text, null for the rest.
            write_jsonl(({**row, "generation": json.dumps(row["generation"]) if "generation" in row else None}
                         for row in trl_rows(snapshot, stats=stats)), handle)
        features = datasets.Features(
            {
                "row_id": datasets.Value("string"),
                "comparison_id": datasets.Value("int64"),
                "prompt": datasets.Value("string"),
                "chosen": datasets.Value("string"),
                "rejected": datasets.Value("string"),
                "margin": datasets.Value("float64"),
                "judgment_ids": datasets.Sequence(datasets.Value("int64")),
                "contributor_ids": datasets.Sequence(datasets.Value("string")),
                "generation": datasets.Value("string"),
            }
        )
        if stats.rows:
            dataset = datasets.Dataset.from_json(str(jsonl), features=features, cache_dir=str(Path(tmp) / "cache"))
        else:  # from_json cannot infer anything from an empty file
            dataset = datasets.Dataset.from_list([], features=features)
        dataset.save_to_disk(str(out))
    (out / "ledgerloop_snapshot.json").write_text(
        json.dumps({"snapshot_id": snapshot.id, "content_hash": snapshot.content_hash, **snapshot.metadata}, indent=2)
    )
    return out
