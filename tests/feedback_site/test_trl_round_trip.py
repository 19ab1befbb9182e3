"""The site's export goes into TRL's RewardTrainer as it is: no renaming, no dropped rows."""

import json

import pytest

from feedback_site.annotation import services
from feedback_site.annotation.exports import snapshot_export

from .conftest import judge

pytestmark = pytest.mark.slow


def test_reward_trainer_accepts_the_export_as_it_is(datanet_with, make_annotator, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from rlhf.tiny import tiny_model_build

    people = [make_annotator(f"a{i}") for i in range(2)]
    datanet = datanet_with(n=6, annotators=people, overlap=2)
    for person in people:
        for choice in ("A", "B", "A", "A", "B", "A"):
            judge(person, datanet, choice=choice, strength=3)
    snapshot = services.snapshot_create(datanet=datanet)
    export = snapshot_export(snapshot=snapshot, export_format="trl", out=tmp_path / "export.jsonl")
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    assert rows and all({"prompt", "chosen", "rejected", "margin", "judgment_ids"} <= row.keys() for row in rows)

    model_dir = tiny_model_build(tmp_path / "tiny", texts=[r["prompt"] + r["chosen"] + r["rejected"] for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    dataset = datasets.load_dataset("json", data_files=str(export), split="train")
    trainer = RewardTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=dataset,
        args=RewardConfig(
            output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2, use_cpu=True, bf16=False,
            report_to=[], logging_steps=1, save_strategy="no", max_length=256,
        ),
    )
    assert len(trainer.train_dataset) == len(rows)  # nothing dropped for length or format
    result = trainer.train()
    assert result.global_step == 2
