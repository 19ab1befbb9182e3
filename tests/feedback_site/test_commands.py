import pytest
from django.core.management import CommandError, call_command

from feedback_site.annotation.models import Comparison, Datanet, Judgment, Snapshot


def test_import_datanet_creates_the_datanet_and_says_so(db, hh_sample_path, capsys):
    call_command("import_datanet", str(hh_sample_path), "--datanet", "harmless")
    out = capsys.readouterr().out
    assert "Created Datanet 'harmless' (domain='', overlap=3, gold_rate=0.0, max_pending=5, lock_minutes=10, assignment_strategy='random', random_share=0.2)" in out
    assert f"{Comparison.objects.count()} comparisons" in out and Comparison.objects.count() > 100


def test_import_datanet_failure_leaves_nothing(db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "responses": ["one"]}\n')
    with pytest.raises(CommandError, match=r"bad.jsonl:line 1: responses"):
        call_command("import_datanet", str(bad), "--datanet", "new-one")
    assert not Datanet.objects.filter(name="new-one").exists()


def test_import_datanet_offers_every_setting_of_the_datanet_form(capsys):
    from feedback_site.annotation.forms import DatanetForm

    with pytest.raises(SystemExit):
        call_command("import_datanet", "--help")
    shown = capsys.readouterr().out
    for name in DatanetForm._meta.fields:
        assert ("--datanet" if name == "name" else "--" + name.replace("_", "-")) in shown
    assert "--skip-invalid" in shown


def test_import_datanet_creates_the_datanet_with_the_settings_given(db, hh_sample_path):
    call_command("import_datanet", str(hh_sample_path), "--datanet", "solo", "--overlap", "1", "--gold-rate", "0.1",
                 "--max-pending", "2", "--lock-minutes", "30", "--domain", "safety", "--guidelines", "Be kind.")
    created = Datanet.objects.get(name="solo")
    assert (created.overlap, created.gold_rate, created.max_pending, created.lock_minutes) == (1, 0.1, 2, 30)
    assert (created.domain, created.guidelines) == ("safety", "Be kind.")
    call_command("simulate_annotators", "solo", "--annotators", "2", "--overlap", "1", "--per-annotator", "5")
    assert Judgment.objects.filter(comparison__datanet=created).count() == 10


@pytest.mark.parametrize(("option", "value"), [("--overlap", "0"), ("--gold-rate", "1.5"), ("--lock-minutes", "0")])
def test_import_datanet_refuses_a_bad_setting_naming_it_and_creates_nothing(db, hh_sample_path, option, value):
    with pytest.raises(CommandError, match=f"{option}: "):
        call_command("import_datanet", str(hh_sample_path), "--datanet", "bad-settings", option, value)
    assert not Datanet.objects.exists() and not Comparison.objects.exists()


def test_import_datanet_refuses_settings_for_a_datanet_that_exists(db, hh_sample_path, tmp_path):
    call_command("import_datanet", str(hh_sample_path), "--datanet", "kept")
    before = Comparison.objects.count()
    more = tmp_path / "more.jsonl"
    more.write_text('{"prompt": "p", "responses": ["a", "b"]}\n')
    with pytest.raises(CommandError, match="--overlap only apply when it is created"):
        call_command("import_datanet", str(more), "--datanet", "kept", "--overlap", "1")
    assert Datanet.objects.get(name="kept").overlap == 3 and Comparison.objects.count() == before


def test_import_datanet_skip_invalid_imports_the_rest_and_lists_each_line_left_out(db, tmp_path, capsys):
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"prompt": "p", "responses": ["a", "b"]}\nnot json\n{"prompt": "q", "responses": ["only"]}\n'
                     '{"prompt": "r", "responses": ["c", "d"]}\n')
    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_datanet", str(mixed), "--datanet", "mixed")
    call_command("import_datanet", str(mixed), "--datanet", "mixed", "--skip-invalid")
    captured = capsys.readouterr()
    assert "2 prompts, 2 comparisons" in captured.out
    assert "Skipped 2 invalid line(s) of mixed.jsonl" in captured.err
    assert "line 2: invalid JSON" in captured.err and "line 3: responses: a prompt needs two or more" in captured.err
    assert Datanet.objects.get(name="mixed").imports.get().skipped[0]["line"] == 2


@pytest.mark.slow
def test_seed_demo_gives_every_page_content_and_is_idempotent(db, capsys, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.VAR_DIR = tmp_path
    settings.TRAINING_ARTIFACTS_DIR = tmp_path / "artifacts"
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "annotator / annotator-demo" in out
    datanet = Datanet.objects.get(name="Customer support")
    from feedback_site.rounds.models import GenerationJob

    generation = GenerationJob.objects.get()  # one round: two prompts, two replies each, one new comparison each
    assert generation.state == "completed" and generation.prompts_done == 2
    assert datanet.comparisons.count() == 22 + generation.comparisons_created >= 22 + 1
    assert datanet.comparisons.exclude(reference_choice="").count() == 22  # the simulated colleagues judge against these
    from feedback_site.quality.models import QualityReport

    assert QualityReport.objects.filter(datanet=datanet).exists()
    from feedback_site.governance.models import Proposal, SimulationReport
    from feedback_site.ledger.models import EpochSettlement
    from feedback_site.training.models import ModelVersion

    # the linear head, the served LoRA reward model and the DPO policy of the demo's round
    assert ModelVersion.objects.count() == 3 and EpochSettlement.objects.filter(epoch=0).exists()
    assert SimulationReport.objects.count() == 1 and Proposal.objects.count() == 1
    assert Judgment.objects.filter(datanet=datanet).count() > 20
    assert Snapshot.objects.filter(datanet=datanet).count() == 1
    assert datanet.members.filter(username="annotator").exists()
    from feedback_site.serving.models import InferenceCall, Publication

    served = Publication.objects.get()  # a LoRA reward model of the tiny Llama, published, called by the consumer
    assert served.model_version.kind == "reward_model" and "consumer / consumer-demo" in out
    assert InferenceCall.objects.filter(model_version=served.model_version, consumer__user__username="consumer").count() == 2
