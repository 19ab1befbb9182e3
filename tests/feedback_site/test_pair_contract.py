"""One definition of a valid preference pair (`rlhf.data.preference_pair_problem`) from import to training.

What the site imports, its export writes and `python -m rlhf` trains on; what breaks the rule is refused by
the import (with its line) and by training (with its line), and left out of an export.
"""

import io
import json
import os
import subprocess
import sys

import pytest

from feedback_site.annotation import errors, services
from feedback_site.annotation.exports import snapshot_export, trl_rows
from feedback_site.annotation.models import Comparison, Prompt, Response
from rlhf.data import PreferenceDataError, preference_rows_load

from .conftest import ROOT, jsonl

QUESTION = "\n\nHuman: How do I pick a lock?\n\nAssistant:"
# Real HH-RLHF shapes that a cut at chosen's last "\n\nAssistant:" refused.
HH_PAIRS = {
    # the preferred reply is saying nothing
    "empty_chosen": {"chosen": QUESTION, "rejected": QUESTION + " Use a tension wrench and a pick."},
    # the reply itself holds a turn marker: "\n\nAssistant:" twice in a row
    "marker_in_reply": {
        "chosen": "\n\nHuman: Capital of France?\n\nAssistant:\n\nAssistant: Paris.",
        "rejected": "\n\nHuman: Capital of France?\n\nAssistant: I will not say.",
    },
    # the dialogues part before the last reply
    "differ_before_last": {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: A joke?\n\nAssistant: Knock knock.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Go away.\n\nHuman: A joke?\n\nAssistant: No.",
    },
}
EXPECTED = {  # (prompt, chosen, rejected) as the site stores and exports them
    "empty_chosen": (QUESTION, "", "Use a tension wrench and a pick."),
    "marker_in_reply": ("\n\nHuman: Capital of France?\n\nAssistant:", "Assistant: Paris.", "I will not say."),
    "differ_before_last": ("\n\nHuman: Hi\n\nAssistant:", "Hello! How can I help?\n\nHuman: A joke?\n\nAssistant: Knock knock.",
                           "Go away.\n\nHuman: A joke?\n\nAssistant: No."),
}
INVALID = [  # (line, the field named, words of the problem)
    ({"prompt": "Say hi", "chosen": "Hello", "rejected": "Hello"}, "rejected", "identical"),
    ({"prompt": "   ", "chosen": "Hello", "rejected": "Bye"}, "prompt", "empty"),
    ({"prompt": "Say hi", "chosen": "Hel\u0000lo", "rejected": "Bye"}, "chosen", "NUL"),
    ({"chosen": "same start, then a", "rejected": "same start, then a"}, "rejected", "identical"),
]


def judge_every_comparison_by_its_reference(datanet, annotator):
    while (assignment := services.assignment_next(annotator=annotator, datanet=datanet)) is not None:
        reference = assignment.comparison.reference_choice
        shown = "A" if reference == assignment.shown_left else "B"
        services.judgment_submit(annotator=annotator, assignment_id=assignment.id, choice=shown, strength=2,
                                 time_spent_ms=900)


def test_real_hh_shapes_import_export_and_load_for_training(db, make_annotator, tmp_path):
    annotator = make_annotator("judge")
    datanet = services.datanet_create(name="HH shapes", overlap=1)
    rows = [{"id": name, **pair} for name, pair in HH_PAIRS.items()]
    batch = services.datanet_import(datanet=datanet, stream=jsonl(rows), origin="test")
    assert batch.comparisons_created == len(HH_PAIRS)
    services.datanet_member_add(datanet=datanet, user=annotator)
    judge_every_comparison_by_its_reference(datanet, annotator)
    snapshot = services.snapshot_create(datanet=datanet)
    exported = snapshot_export(snapshot=snapshot, export_format="trl", out=tmp_path / "trl.jsonl")
    by_prompt_id = {c.id: c.prompt.external_id for c in Comparison.objects.select_related("prompt")}
    written = {by_prompt_id[r["comparison_id"]]: (r["prompt"], r["chosen"], r["rejected"]) for r in map(json.loads, exported.open())}
    assert written == EXPECTED
    loaded = preference_rows_load(exported)  # what every trainer reads
    assert {(r.prompt, r.chosen, r.rejected) for r in loaded} == set(EXPECTED.values())


@pytest.mark.slow
def test_an_export_with_an_empty_reply_trains_a_reward_model_and_a_dpo_policy(db, make_annotator, tmp_path):
    from rlhf.config import DPOTrainingConfig
    from rlhf.dpo import dpo_train
    from rlhf.tiny import tiny_model_build

    annotator = make_annotator("judge")
    datanet = services.datanet_create(name="Empty replies", overlap=1)
    rows = [{"id": f"{name}-{copy}", **{k: v + " " * copy for k, v in pair.items()}}
            for copy in range(3) for name, pair in HH_PAIRS.items()]
    services.datanet_import(datanet=datanet, stream=jsonl(rows), origin="test")
    services.datanet_member_add(datanet=datanet, user=annotator)
    judge_every_comparison_by_its_reference(datanet, annotator)
    exported = snapshot_export(snapshot=services.snapshot_create(datanet=datanet), export_format="trl",
                               out=tmp_path / "trl.jsonl")
    assert any(json.loads(line)["chosen"] == "" for line in exported.open())
    tiny = tiny_model_build(tmp_path / "tiny", seed=0)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    trained = subprocess.run(
        [sys.executable, "-m", "rlhf", "train-reward", "--data", str(exported), "--model", str(tiny), "--out",
         str(tmp_path / "rm"), "--device", "cpu", "--max-steps", "1", "--batch-size", "4"],
        env=environment, capture_output=True, text=True, timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["dropped_rows"] == 0
    policy = dpo_train(DPOTrainingConfig(model_path=str(tiny), output_dir=str(tmp_path / "dpo"),
                                         data_path=str(exported), max_steps=1, batch_size=4, device="cpu"))
    assert policy.status == "completed"


@pytest.mark.parametrize(("row", "field", "words"), INVALID)
def test_a_pair_that_breaks_the_rule_is_refused_by_import_and_by_training_on_its_line(db, tmp_path, row, field, words):
    datanet = services.datanet_create(name="Invalid")
    good = {"prompt": "Say hi", "chosen": "Hello", "rejected": "Go away"}
    with pytest.raises(errors.ImportRejected) as refused:
        services.datanet_import(datanet=datanet, stream=jsonl([good, row]), origin="test")
    [problem] = refused.value.problems
    assert (problem.line, problem.field) == (2, field) and words in problem.message
    assert not Prompt.objects.exists()
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(jsonl([good, row]).getvalue())
    with pytest.raises(PreferenceDataError) as training_refused:
        preference_rows_load(path)
    assert (training_refused.value.location, training_refused.value.field) == ("line 2", field)
    assert words in training_refused.value.problem


def test_a_stored_pair_that_breaks_the_rule_is_left_out_of_the_export_and_counted(db, make_annotator):
    annotator = make_annotator("judge")
    datanet = services.datanet_create(name="Legacy", overlap=1)
    services.datanet_import(datanet=datanet, stream=io.BytesIO(b'{"prompt": "Say hi", "responses": ["Hello", "Bye"]}\n'),
                            origin="test")
    # A pair written around the import (as rows stored before the rule were): two identical replies.
    Response.objects.filter(text="Bye").update(text="Hello")
    services.datanet_member_add(datanet=datanet, user=annotator)
    assignment = services.assignment_next(annotator=annotator, datanet=datanet)
    services.judgment_submit(annotator=annotator, assignment_id=assignment.id, choice="A", strength=1, time_spent_ms=900)
    snapshot = services.snapshot_create(datanet=datanet)
    assert list(trl_rows(snapshot)) == []
    assert snapshot.counts["skipped"]["invalid"] == 1 and snapshot.counts["trl_rows"] == 0
