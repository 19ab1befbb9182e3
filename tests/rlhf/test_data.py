"""Reading, normalising and splitting preference data."""

from __future__ import annotations

import json

import pytest

from rlhf.data import (
    HH_ASSISTANT_TURN,
    PreferenceDataError,
    PreferenceRow,
    data_sha256,
    implicit_prompt_split,
    kfold_splits,
    preference_row_from_record,
    preference_rows_load,
    preference_split,
    rows_sha256,
    rows_write_jsonl,
)
from tests.rlhf.conftest import HH_SAMPLE


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def export_record(index, **changes):
    record = {"row_id": f"r{index}", "prompt": f"Q{index}?", "chosen": " good", "rejected": " bad",
              "margin": 0.5, "judgment_ids": [10 + index, 20 + index], "contributor_ids": ["c-a", "c-b"]}
    record.update(changes)
    return record


def test_site_export_rows_keep_every_field(tmp_path):
    path = write_lines(tmp_path / "export.jsonl", [json.dumps(export_record(1)), "",
                                                   json.dumps(export_record(2, margin=None))])
    rows = preference_rows_load(path)
    assert rows == [
        PreferenceRow("r1", "Q1?", " good", " bad", 0.5, (11, 21), ("c-a", "c-b")),
        PreferenceRow("r2", "Q2?", " good", " bad", None, (12, 22), ("c-a", "c-b")),
    ]


def test_rows_round_trip_through_the_export_format(tmp_path):
    rows = [PreferenceRow("a", "P", " x", " y", 1.25, (1,), ("c",)), PreferenceRow("b", "Q", " z", " w")]
    path = rows_write_jsonl(rows, tmp_path / "out.jsonl")
    assert preference_rows_load(path) == rows
    assert rows_sha256(rows) == data_sha256(path)


def test_missing_row_ids_default_to_line_numbers(tmp_path):
    record = {"prompt": "P", "chosen": " a", "rejected": " b"}
    path = write_lines(tmp_path / "trl.jsonl", [json.dumps(record), "", json.dumps(record)])
    assert [row.row_id for row in preference_rows_load(path)] == ["line-1", "line-3"]


def test_hh_rlhf_prompt_is_the_prefix_through_the_last_assistant_turn():
    rows = preference_rows_load(HH_SAMPLE)
    raw = [json.loads(line) for line in HH_SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(raw) == 60
    for row, record in zip(rows, raw, strict=True):
        assert row.prompt.endswith(HH_ASSISTANT_TURN)
        assert row.prompt + row.chosen == record["chosen"]
        assert row.prompt + row.rejected == record["rejected"]
        # the split point is the LAST assistant turn of the shared text: replies hold no further turn marker
        assert row.prompt.count(HH_ASSISTANT_TURN) == record["chosen"].count(HH_ASSISTANT_TURN)


def test_hh_split_keeps_replies_that_share_their_first_words():
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Sky?\n\nAssistant: It is blue."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Sky?\n\nAssistant: It is green."
    prompt, chosen_reply, rejected_reply = implicit_prompt_split(chosen, rejected)
    assert prompt == "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Sky?\n\nAssistant:"
    assert (chosen_reply, rejected_reply) == (" It is blue.", " It is green.")


def test_plain_implicit_prompt_splits_at_a_word_boundary():
    assert implicit_prompt_split("The sky is blue", "The sky is bluish grey") == ("The sky is ", "blue",
                                                                                   "bluish grey")


def test_conversational_rows_render_as_hh_turns():
    explicit = preference_row_from_record({
        "prompt": [{"role": "user", "content": "Sky colour?"}],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "Green."}],
    }, default_row_id="x")
    implicit = preference_row_from_record({
        "chosen": [{"role": "user", "content": "Sky colour?"}, {"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "user", "content": "Sky colour?"}, {"role": "assistant", "content": "Green."}],
    }, default_row_id="x")
    assert explicit == implicit
    assert (explicit.prompt, explicit.chosen, explicit.rejected) == (
        "\n\nHuman: Sky colour?\n\nAssistant:", " Blue.", " Green.")


def test_datasets_folder_is_read_like_jsonl(tmp_path):
    import datasets

    records = [export_record(i) for i in range(3)]
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "ds"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(records)}).save_to_disk(str(tmp_path / "dd"))
    expected = [preference_row_from_record(record) for record in records]
    assert preference_rows_load(tmp_path / "ds") == expected
    assert preference_rows_load(tmp_path / "dd") == expected
    assert data_sha256(tmp_path / "ds") != data_sha256(tmp_path / "dd")


@pytest.mark.parametrize(("line", "field", "problem"), [
    ('{"prompt": "P", "chosen": " a", "rejected": ', None, "invalid JSON"),
    ('{"prompt": "P", "rejected": " b"}', "chosen", "missing"),
    ('{"prompt": "P", "chosen": " a", "rejected": " a"}', "rejected", "identical"),
    ('{"prompt": "P", "chosen": " a\\u0000", "rejected": " b"}', "chosen", "NUL"),
    ('{"prompt": "", "chosen": " a", "rejected": " b"}', "prompt", "empty"),
    ('{"prompt": "P", "chosen": 3, "rejected": " b"}', "chosen", "expected a string"),
    ('{"prompt": "P", "chosen": " a", "rejected": " b", "margin": "high"}', "margin", "finite number"),
    ('{"prompt": "P", "chosen": " a", "rejected": " b", "judgment_ids": [1, 2], "contributor_ids": ["x"]}',
     "contributor_ids", "parallel"),
    ('{"prompt": "P", "chosen": " a", "rejected": " b", "judgment_ids": ["1"]}', "judgment_ids", "integers"),
    ('["not", "an", "object"]', None, "expected a JSON object"),
])
def test_bad_rows_are_reported_with_file_line_and_field(tmp_path, line, field, problem):
    good = json.dumps(export_record(1))
    path = write_lines(tmp_path / "bad.jsonl", [good, good.replace('"r1"', '"r2"'), line])
    with pytest.raises(PreferenceDataError) as caught:
        preference_rows_load(path)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and problem in message
    assert caught.value.field == field
    if field:
        assert f"field '{field}'" in message


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(export_record(1)).encode() + b"\n" + '{"prompt": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(PreferenceDataError, match=r"line 2: not valid UTF-8"):
        preference_rows_load(path)


def test_repeated_row_ids_are_rejected(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [json.dumps(export_record(1)), json.dumps(export_record(1))])
    with pytest.raises(PreferenceDataError, match=r"row 2, field 'row_id': row_id 'r1' repeats row 1"):
        preference_rows_load(path)


def test_missing_and_empty_files_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        preference_rows_load(tmp_path / "nope.jsonl")
    with pytest.raises(PreferenceDataError, match="no preference rows"):
        preference_rows_load(write_lines(tmp_path / "empty.jsonl", ["", ""]))


def test_split_is_deterministic_disjoint_and_stable_when_rows_are_added():
    rows = [PreferenceRow(f"id-{i}", "P", " a", " b") for i in range(200)]
    train, heldout = preference_split(rows, heldout_fraction=0.25, seed=7)
    assert len(heldout) == 50 and len(train) == 150
    assert {r.row_id for r in train}.isdisjoint({r.row_id for r in heldout})
    assert (train, heldout) == preference_split(list(rows), heldout_fraction=0.25, seed=7)
    assert heldout != preference_split(rows, heldout_fraction=0.25, seed=8)[1]
    # Adding rows only moves rows whose rank is near the cut, never reshuffles the whole split.
    more = rows + [PreferenceRow(f"new-{i}", "P", " a", " b") for i in range(20)]
    _, heldout_more = preference_split(more, heldout_fraction=0.25, seed=7)
    kept = {r.row_id for r in heldout} & {r.row_id for r in heldout_more}
    assert len(kept) >= 40


def test_split_edges():
    rows = [PreferenceRow(f"id-{i}", "P", " a", " b") for i in range(3)]
    assert preference_split(rows, heldout_fraction=0.0, seed=0) == (rows, [])
    assert len(preference_split(rows, heldout_fraction=0.01, seed=0)[1]) == 1
    with pytest.raises(ValueError):
        preference_split(rows[:1], heldout_fraction=0.5, seed=0)
    with pytest.raises(ValueError):
        preference_split(rows, heldout_fraction=1.0, seed=0)


def test_kfold_holds_out_every_row_exactly_once():
    rows = [PreferenceRow(f"id-{i}", "P", " a", " b") for i in range(23)]
    folds = kfold_splits(rows, folds=5, seed=1)
    heldout_ids = [row.row_id for _, heldout in folds for row in heldout]
    assert sorted(heldout_ids) == sorted(row.row_id for row in rows)
    assert all(len(train) + len(heldout) == 23 for train, heldout in folds)
    assert {len(heldout) for _, heldout in folds} == {4, 5}
