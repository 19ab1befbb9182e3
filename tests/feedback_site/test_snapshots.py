import json

import pytest
from django.core.management import call_command

from feedback_site.annotation import errors, services
from feedback_site.annotation.exports import (
    feedback_log_rows,
    judgment_quality_records,
    snapshot_export,
    trl_rows,
)
from feedback_site.annotation.models import AppendOnlyError, Comparison
from simulator.feedback_log import read_feedback_log, validation_errors

from .conftest import judge


def judge_comparison(comparison, votes):
    """votes: list of (annotator, choice in comparison terms a/b/tie/both_bad, strength)."""
    out = []
    for annotator, choice, strength in votes:
        assignment = services.assignment_next(annotator=annotator, datanet=comparison.datanet)
        assert assignment.comparison_id == comparison.id
        shown = {"tie": "tie", "both_bad": "both_bad"}.get(choice) or ("A" if choice == assignment.shown_left else "B")
        out.append(
            services.judgment_submit(annotator=annotator, assignment_id=assignment.id, choice=shown, strength=strength, time_spent_ms=700)
        )
    return out


@pytest.fixture
def three(make_annotator):
    return [make_annotator(n) for n in ("ann", "bob", "cat")]


def test_majority_rule_margin_and_provenance(datanet_with, three):
    datanet = datanet_with(n=1, annotators=three, overlap=3)
    comparison = Comparison.objects.select_related("response_a", "response_b").get()
    made = judge_comparison(comparison, [(three[0], "a", 3), (three[1], "a", 1), (three[2], "b", 2)])
    snapshot = services.snapshot_create(datanet=datanet)
    [row] = list(trl_rows(snapshot))
    assert row["chosen"] == comparison.response_a.text and row["rejected"] == comparison.response_b.text
    assert row["margin"] == pytest.approx((3 + 1 - 2) / 3)
    assert row["judgment_ids"] == [j.id for j in made]
    pseudonyms = [a.contributor.pseudonym for a in three]
    assert row["contributor_ids"] == pseudonyms
    assert not any(a.username in json.dumps(row) for a in three)  # pseudonymous


@pytest.mark.parametrize(
    "votes,reason",
    [([("a", 2), ("b", 2)], "split"), ([("tie", 1), ("tie", 2)], "tie"), ([("both_bad", 1), ("both_bad", 1)], "both_bad")],
)
def test_no_majority_gives_no_row_and_is_counted(datanet_with, three, votes, reason):
    datanet = datanet_with(n=1, annotators=three, overlap=2)
    comparison = Comparison.objects.get()
    judge_comparison(comparison, [(three[i], c, s) for i, (c, s) in enumerate(votes)])
    snapshot = services.snapshot_create(datanet=datanet)
    assert list(trl_rows(snapshot)) == []
    assert snapshot.counts["skipped"][reason] == 1 and snapshot.counts["trl_rows"] == 0


def test_snapshot_is_frozen_revisions_and_new_judgments_after_it_do_not_change_it(datanet_with, three):
    datanet = datanet_with(n=2, annotators=three, overlap=1)
    first = judge(three[0], datanet, choice="A")
    snapshot = services.snapshot_create(datanet=datanet)
    rows_before = list(trl_rows(snapshot))
    log_before = list(feedback_log_rows(snapshot))
    revision = services.judgment_revise(annotator=three[0], judgment_id=first.id, choice="B", strength=3, time_spent_ms=1)
    judge(three[1], datanet)
    assert list(trl_rows(snapshot)) == rows_before
    assert list(feedback_log_rows(snapshot)) == log_before
    later = services.snapshot_create(datanet=datanet)
    assert later.content_hash != snapshot.content_hash
    assert later.counts["judgment_events"] == 3 and later.counts["trl_rows"] == 2
    # the revision replaced the original in the preference set, and both are in the log
    [revised] = [r for r in trl_rows(later) if r["comparison_id"] == first.comparison_id]
    assert revised["judgment_ids"] == [revision.id]
    assert [r["revision_of"] for r in feedback_log_rows(later)].count(first.id) == 1
    with pytest.raises(AppendOnlyError):
        snapshot.save()


def test_same_content_same_hash(datanet_with, three):
    datanet = datanet_with(n=2, annotators=three, overlap=1)
    judge(three[0], datanet)
    assert services.snapshot_create(datanet=datanet).content_hash == services.snapshot_create(datanet=datanet).content_hash


def test_empty_datanet_cannot_be_snapshotted(datanet_with):
    with pytest.raises(errors.SnapshotEmpty):
        services.snapshot_create(datanet=datanet_with(n=1))


def test_exported_files_match_the_snapshot_hash_and_the_log_schema(datanet_with, three, tmp_path):
    datanet = datanet_with(n=3, annotators=three, overlap=2)
    for person in three:
        judge(person, datanet, choice="B", strength=2)
        judge(person, datanet, choice="tie", strength=1)
    snapshot = services.snapshot_create(datanet=datanet)
    trl = snapshot_export(snapshot=snapshot, export_format="trl", out=tmp_path / "trl.jsonl")
    log = snapshot_export(snapshot=snapshot, export_format="log", out=tmp_path / "log.jsonl")
    import hashlib

    assert hashlib.sha256(trl.read_bytes()).hexdigest() == snapshot.metadata["trl_sha256"]
    assert hashlib.sha256(log.read_bytes()).hexdigest() == snapshot.metadata["log_sha256"]
    rows = list(read_feedback_log(log))
    assert len(rows) == 6 and all(not validation_errors(r) for r in rows)
    assert {r["annotator"] for r in rows} == {a.contributor.pseudonym for a in three}
    assert all(r["shown_left"] in ("a", "b") and r["time_spent_ms"] == 1500 for r in rows)


@pytest.mark.parametrize("aggregation", ["majority", "reliability", "each"])
def test_snapshot_digest_is_what_the_separate_exports_give(datanet_with, make_annotator, engineer, tmp_path, aggregation):
    import hashlib

    from feedback_site.quality import services as quality
    from rlhf.quality import krippendorff_alpha

    people = [make_annotator(n) for n in ("ann", "bob", "cat", "dan")]
    datanet = datanet_with(n=4, annotators=people, overlap=4)
    made = {}
    for person, choices in zip(people, ["AABt", "ABBx", "BBAt", "AAAB"], strict=True):
        for i, choice in enumerate(choices):
            made[person, i] = judge(person, datanet, choice={"t": "tie", "x": "both_bad"}.get(choice, choice), strength=1 + i % 3)
    services.judgment_revise(annotator=people[0], judgment_id=made[people[0], 1].id, choice="B", strength=3, time_spent_ms=9)
    quality.exclusion_add(datanet=datanet, pseudonym=people[3].contributor.pseudonym, reason="test", by=engineer)
    snapshot = services.snapshot_create(datanet=datanet, aggregation=aggregation)
    assert snapshot.metadata["excluded_contributors"] == [people[3].contributor.pseudonym]

    trl = snapshot_export(snapshot=snapshot, export_format="trl", out=tmp_path / "trl.jsonl").read_bytes()
    log = snapshot_export(snapshot=snapshot, export_format="log", out=tmp_path / "log.jsonl").read_bytes()
    trl_sha, log_sha = hashlib.sha256(trl).hexdigest(), hashlib.sha256(log).hexdigest()
    assert (snapshot.metadata["trl_sha256"], snapshot.metadata["log_sha256"]) == (trl_sha, log_sha)
    assert snapshot.content_hash == hashlib.sha256(f"trl:{trl_sha}\nlog:{log_sha}\n".encode()).hexdigest()
    events = [json.loads(line) for line in log.splitlines()]
    assert snapshot.counts["judgment_events"] == len(events) == 13  # 16 judgments and a revision, less dan's 4
    assert snapshot.counts["annotators"] == len({e["annotator"] for e in events}) == 3
    assert snapshot.counts["trl_rows"] == len(trl.splitlines()) == len(list(trl_rows(snapshot)))
    records = judgment_quality_records(datanet.id, snapshot.cutoff_judgment_id, frozenset(snapshot.metadata["excluded_contributors"]))
    assert snapshot.metadata["agreement"]["krippendorff_alpha"] == krippendorff_alpha(records, seed=0).as_dict()


def test_hf_export_loads_with_datasets(datanet_with, three, tmp_path):
    import datasets

    datanet = datanet_with(n=2, annotators=three, overlap=1)
    judge(three[0], datanet, choice="A", strength=3)
    snapshot = services.snapshot_create(datanet=datanet)
    folder = snapshot_export(snapshot=snapshot, export_format="hf", out=tmp_path / "hf")
    dataset = datasets.load_from_disk(str(folder))
    assert dataset.num_rows == 1 and dataset[0]["margin"] == 3.0
    assert json.loads((folder / "ledgerloop_snapshot.json").read_text())["content_hash"] == snapshot.content_hash


def test_command_line_snapshot_and_export(datanet_with, three, tmp_path, capsys):
    datanet = datanet_with(n=2, annotators=three, overlap=1)
    judge(three[0], datanet)
    call_command("snapshot", datanet.name)
    out = capsys.readouterr().out
    snapshot_id = int(out.split("id ")[-1].split()[0])
    call_command("export", str(snapshot_id), "--format", "trl", "--out", str(tmp_path / "x.jsonl"))
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 1


def test_feedback_log_reader_names_file_line_and_field(tmp_path):
    from simulator.feedback_log import FeedbackLogError

    bad = tmp_path / "log.jsonl"
    bad.write_text('{"schema_version": 1, "judgment_id": 1}\n')
    with pytest.raises(FeedbackLogError, match=r"log.jsonl:1: .*annotator"):
        list(read_feedback_log(bad))


def test_fast_log_check_agrees_with_the_schema():
    import copy

    import jsonschema

    from simulator.feedback_log import _plainly_valid, schema

    good = {
        "schema_version": 1, "judgment_id": 3, "annotator": "c_1", "datanet": "d", "comparison_id": 2, "choice": "tie",
        "strength": "much", "shown_left": "b", "time_spent_ms": 0, "served_at": "2026-01-01T00:00:00Z",
        "submitted_at": "2026-01-01T00:00:01Z", "revision_of": None,
    }
    variants = [good, {**good, "revision_of": 2}]
    for key, bad in [("choice", "left"), ("strength", 2), ("judgment_id", 0), ("judgment_id", True), ("time_spent_ms", -1),
                     ("annotator", ""), ("revision_of", "1"), ("schema_version", 2), ("extra", 1)]:
        variants.append({**copy.deepcopy(good), key: bad})
    variants.append({k: v for k, v in good.items() if k != "datanet"})
    validator = jsonschema.Draft202012Validator(schema())
    for row in variants:
        if _plainly_valid(row):
            assert validator.is_valid(row), row
    assert _plainly_valid(good) and validator.is_valid(good)
    assert sum(_plainly_valid(r) for r in variants) == 2
