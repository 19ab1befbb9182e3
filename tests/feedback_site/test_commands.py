import pytest
from django.core.management import CommandError, call_command

from feedback_site.annotation.models import Comparison, Datanet, Judgment, Snapshot


def test_import_datanet_creates_the_datanet_and_says_so(db, hh_sample_path, capsys):
    call_command("import_datanet", str(hh_sample_path), "--datanet", "harmless")
    out = capsys.readouterr().out
    assert "Created Datanet 'harmless' with default settings" in out
    assert f"{Comparison.objects.count()} comparisons" in out and Comparison.objects.count() > 100


def test_import_datanet_failure_leaves_nothing(db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "responses": ["one"]}\n')
    with pytest.raises(CommandError, match=r"bad.jsonl:line 1: responses"):
        call_command("import_datanet", str(bad), "--datanet", "new-one")
    assert not Datanet.objects.filter(name="new-one").exists()


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
    assert datanet.comparisons.count() == 22
    assert datanet.comparisons.exclude(reference_choice="").count() == 22  # the simulated colleagues judge against these
    from feedback_site.quality.models import QualityReport

    assert QualityReport.objects.filter(datanet=datanet).exists()
    from feedback_site.governance.models import Proposal, SimulationReport
    from feedback_site.ledger.models import EpochSettlement
    from feedback_site.training.models import ModelVersion

    assert ModelVersion.objects.count() == 1 and EpochSettlement.objects.filter(epoch=0).exists()
    assert SimulationReport.objects.count() == 1 and Proposal.objects.count() == 1
    assert Judgment.objects.filter(datanet=datanet).count() > 20
    assert Snapshot.objects.filter(datanet=datanet).count() == 1
    assert datanet.members.filter(username="annotator").exists()
