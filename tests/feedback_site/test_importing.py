import io
import json

import pytest
from django.test import override_settings

from feedback_site.annotation import errors, services
from feedback_site.annotation.models import Comparison, ImportBatch, Prompt, Response

from .conftest import jsonl, own_rows

HH_ROW = {
    "chosen": "\n\nHuman: How do I bake bread?\n\nAssistant: Mix flour, water, yeast and salt, then knead.",
    "rejected": "\n\nHuman: How do I bake bread?\n\nAssistant: Buy some.",
}


def stored_counts():
    return (Prompt.objects.count(), Response.objects.count(), Comparison.objects.count(), ImportBatch.objects.count())


def test_own_format_makes_every_pair_a_comparison(db):
    datanet = services.datanet_create(name="Pairs")
    batch = services.datanet_import(datanet=datanet, stream=jsonl(own_rows(2, responses=3)), origin="test")
    assert (batch.prompts_created, batch.comparisons_created) == (2, 6)
    prompt = Prompt.objects.get(external_id="q0")
    assert sorted(prompt.responses.values_list("source_model", flat=True)) == ["model-0", "model-1", "model-2"]
    assert not Comparison.objects.exclude(reference_choice="").exists()  # our format has no recorded preference


def test_hh_rlhf_style_splits_prompt_and_keeps_the_preference_as_reference(db):
    datanet = services.datanet_create(name="HH")
    services.datanet_import(datanet=datanet, stream=jsonl([HH_ROW]), origin="test")
    comparison = Comparison.objects.select_related("prompt", "response_a", "response_b").get()
    assert comparison.prompt.text == "\n\nHuman: How do I bake bread?\n\nAssistant:"
    texts = {"a": comparison.response_a.text, "b": comparison.response_b.text}
    assert texts[comparison.reference_choice].startswith("Mix flour")
    assert comparison.judgment_count == 0  # a recorded preference is never a judgment
    assert not comparison.judgments.exists()


def test_trl_explicit_prompt_format(db):
    datanet = services.datanet_create(name="TRL")
    row = {"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."}
    services.datanet_import(datanet=datanet, stream=jsonl([row]), origin="test")
    comparison = Comparison.objects.get()
    chosen = comparison.response_a if comparison.reference_choice == "a" else comparison.response_b
    assert chosen.text == "Hello!"


def test_real_hh_file_imports_whole(db, hh_sample_path):
    datanet = services.datanet_create(name="Harmless")
    with open(hh_sample_path, "rb") as stream:
        batch = services.datanet_import(datanet=datanet, stream=stream, origin="test")
    lines = sum(1 for _ in open(hh_sample_path, encoding="utf-8"))
    assert batch.comparisons_created == lines
    assert Comparison.objects.filter(reference_choice="a").exists() and Comparison.objects.filter(reference_choice="b").exists()


BAD_LINES = [
    (b'{"prompt": "x", "responses": ["a", "b"]\n', 1, "", "invalid JSON"),
    (b'{"prompt": "", "responses": ["a", "b"]}\n', 1, "prompt", "empty"),
    (b'{"responses": ["a", "b"]}\n', 1, "prompt", "missing"),
    (b'{"prompt": "x", "responses": ["only one"]}\n', 1, "responses", "two or more"),
    (b'{"prompt": "x", "responses": ["a", "b", "a"]}\n', 1, "responses[2]", "identical to responses[0]"),
    (b'{"prompt": "x", "responses": ["a", {"text": 7}]}\n', 1, "responses[1].text", "not a string"),
    (b'{"prompt": "x", "chosen": "same", "rejected": "same"}\n', 1, "rejected", "identical"),
    (b'{"prompt": "x", "chosen": 3, "rejected": "b"}\n', 1, "chosen", "must be a string"),
    (b'{"prompt": "x", "responses": ["a", "b"]}\n\xff\xfe{"bad": 1}\n', 2, "", "UTF-8"),
    (b'{"chosen": "no dialogue here", "rejected": "other"}\n', 1, "prompt", "share no prompt"),
    (b'[1, 2]\n', 1, "", "JSON object"),
    (b'{"prompt": "x", "responses": ["a", "b\\u0000c"]}\n', 1, "responses[1]", "NUL character"),
    (b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a\\u0000", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: b"}\n', 1, "chosen", "NUL"),
    (b'{"id": "x", "prompt": "p", "responses": ["a", "b"]}\n{"id": "x", "prompt": "q", "responses": ["c", "d"]}\n', 2, "id", "duplicate prompt id"),
]


@pytest.mark.parametrize("content,line,field,words", BAD_LINES)
def test_bad_input_is_refused_whole_with_line_and_field(db, content, line, field, words):
    datanet = services.datanet_create(name="Bad")
    good = b'{"id": "ok", "prompt": "fine", "responses": ["a", "b"]}\n'
    before = stored_counts()
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(datanet=datanet, stream=io.BytesIO(good + content), filename="in.jsonl", origin="test")
    problem = caught.value.problems[0]
    assert (problem.line, problem.field) == (line + 1, field)
    assert words in problem.message
    assert f"in.jsonl:line {line + 1}" in caught.value.message
    assert stored_counts() == before  # all or nothing: the good line was not stored either


def test_every_problem_is_reported_not_just_the_first(db):
    datanet = services.datanet_create(name="Many")
    content = b'{"prompt": ""}\nnot json\n{"prompt": "x", "responses": ["a"]}\n'
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(datanet=datanet, stream=io.BytesIO(content), origin="test")
    assert {p.line for p in caught.value.problems} == {1, 2, 3}


@override_settings(IMPORT_MAX_LINE_BYTES=100)
def test_line_over_the_size_limit(db):
    datanet = services.datanet_create(name="Long")
    content = json.dumps({"prompt": "x" * 200, "responses": ["a", "b"]}).encode() + b"\n"
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(datanet=datanet, stream=io.BytesIO(content), origin="test")
    assert caught.value.problems[0].line == 1 and "over the limit of 100" in caught.value.problems[0].message


@override_settings(IMPORT_MAX_UPLOAD_BYTES=200)
def test_file_over_the_upload_limit(db):
    datanet = services.datanet_create(name="Big")
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(datanet=datanet, stream=jsonl(own_rows(10)), origin="test")
    assert "larger than the limit of 200 bytes" in caught.value.message
    assert Prompt.objects.count() == 0


def test_reimporting_the_same_content_is_refused_as_duplicates(db):
    datanet = services.datanet_create(name="Twice")
    services.datanet_import(datanet=datanet, stream=jsonl([HH_ROW]), origin="test")
    before = stored_counts()
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(datanet=datanet, stream=jsonl([HH_ROW]), origin="test")
    assert "already exists" in caught.value.problems[0].message
    assert stored_counts() == before


def test_expected_field_marks_gold(db):
    datanet = services.datanet_create(name="Gold")
    rows = [{"id": "g", "prompt": "p", "responses": ["good", "bad"], "expected": 0}]
    services.datanet_import(datanet=datanet, stream=jsonl(rows), origin="test")
    assert Comparison.objects.get().gold_choice == "a"


def test_reference_field_on_our_format(db):
    datanet = services.datanet_create(name="Ref")
    rows = [{"id": "r", "prompt": "p", "responses": ["worse", "better"], "reference": 1}]
    services.datanet_import(datanet=datanet, stream=jsonl(rows), origin="test")
    comparison = Comparison.objects.get()
    assert comparison.reference_choice == "b" and comparison.response_b.text == "better" and not comparison.gold_choice
    with pytest.raises(errors.ImportRejected, match="reference"):
        services.datanet_import(datanet=datanet, stream=jsonl([{"prompt": "q", "responses": ["x", "y"], "reference": 2}]), origin="test")


def test_a_file_that_starts_with_a_byte_order_mark_imports(db):
    datanet = services.datanet_create(name="Spreadsheet")
    content = b"\xef\xbb\xbf" + jsonl(own_rows(2)).getvalue()
    batch = services.datanet_import(datanet=datanet, stream=io.BytesIO(content), origin="test")
    assert batch.prompts_created == 2
    assert Prompt.objects.get(external_id="q0").text.startswith("\ufeff") is False
    # A mark anywhere but the file's start is text, not an encoding mark: the line is refused as JSON.
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(
            datanet=datanet, stream=io.BytesIO(b'{"id": "z", "prompt": "p", "responses": ["a", "b"]}\n\xef\xbb\xbf{}\n'), origin="test"
        )
    assert caught.value.problems[0].line == 2


@pytest.mark.postgres
def test_a_nul_character_is_refused_with_its_line_on_postgresql(db):
    datanet = services.datanet_create(name="Nul")
    before = stored_counts()
    with pytest.raises(errors.ImportRejected) as caught:
        services.datanet_import(
            datanet=datanet, stream=io.BytesIO(b'{"id": "a", "prompt": "p\\u0000", "responses": ["a", "b"]}\n'), origin="test"
        )
    assert (caught.value.problems[0].line, caught.value.problems[0].field) == (1, "prompt")
    assert stored_counts() == before


def test_skip_invalid_leaves_out_bad_lines_and_keeps_their_report(db):
    datanet = services.datanet_create(name="Skipping")
    good = own_rows(2)
    lines = jsonl([good[0]]).read() + b"not json\n" + jsonl([{"prompt": "p", "responses": ["only one"]}, good[1]]).read()
    with pytest.raises(errors.ImportRejected):
        services.datanet_import(datanet=datanet, stream=io.BytesIO(lines), origin="test")
    assert stored_counts() == (0, 0, 0, 0)
    batch = services.datanet_import(datanet=datanet, stream=io.BytesIO(lines), origin="test", skip_invalid=True)
    assert batch.prompts_created == 2
    assert sorted(Prompt.objects.values_list("external_id", flat=True)) == ["q0", "q1"]
    assert [(p["line"], p["field"]) for p in batch.skipped] == [(2, ""), (3, "responses")]


def test_skip_invalid_skips_ids_already_in_the_datanet_and_refuses_when_nothing_is_left(db):
    datanet = services.datanet_create(name="Again")
    services.datanet_import(datanet=datanet, stream=jsonl(own_rows(2)), origin="test")
    again = services.datanet_import(datanet=datanet, stream=jsonl(own_rows(3)), origin="test", skip_invalid=True)
    assert again.prompts_created == 1
    assert [p["line"] for p in again.skipped] == [1, 2]
    with pytest.raises(errors.ImportRejected, match="no valid line is left"):
        services.datanet_import(datanet=datanet, stream=jsonl(own_rows(3)), origin="test", skip_invalid=True)
    assert Prompt.objects.count() == 3


def test_skip_invalid_still_refuses_a_file_over_the_limit(db):
    datanet = services.datanet_create(name="Limit")
    with override_settings(IMPORT_MAX_UPLOAD_BYTES=100), pytest.raises(errors.ImportRejected, match="larger than"):
        services.datanet_import(datanet=datanet, stream=jsonl(own_rows(5)), origin="test", skip_invalid=True)
    assert stored_counts() == (0, 0, 0, 0)
