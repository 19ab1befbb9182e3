"""The simulator driven from the site: calibrated from the site's own feedback log, and fanned out over
real Celery workers with the same numbers as local processes."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from feedback_site.annotation import services

from .conftest import jsonl, own_rows, start_worker, stop_worker


def judged_over_two_weeks(make_annotator):
    people = [make_annotator(f"p{i}") for i in range(10)]
    datanet = services.datanet_create(name="Weeks", overlap=2)
    services.datanet_import(datanet=datanet, stream=jsonl(own_rows(70)), origin="test")
    for person in people:
        services.datanet_member_add(datanet=datanet, user=person)
    start = timezone.now() - timedelta(days=15)
    for day in range(14):
        for i, person in enumerate(people):
            if (day + i) % 3 == 0:
                continue  # not everyone comes every day
            for _ in range(1 + (i % 2)):
                now = start + timedelta(days=day, minutes=i)
                held = services.assignment_next(annotator=person, datanet=datanet, now=now)
                if held is None:
                    break
                agrees = (day * 7 + i) % 5 != 0  # mostly response a, as everyone else
                shown = "A" if (held.shown_left == "a") == agrees else "B"
                services.judgment_submit(annotator=person, assignment_id=held.id, choice=shown, strength=2, time_spent_ms=4000 + 500 * i, now=now)
    return datanet


@pytest.mark.slow
def test_simulate_reads_the_sites_own_feedback_log(db, make_annotator, tmp_path, capsys):
    import json

    judged_over_two_weeks(make_annotator)
    call_command("simulate", "--scenario", "baseline", "--seeds", "2", "--epochs", "20", "--out", str(tmp_path), "--local")
    out = capsys.readouterr().out
    assert "judgment events" in out and "2 runs on 1 local process" in out
    manifest = json.loads((tmp_path / "sweep" / "manifest.json").read_text())
    assert manifest["calibration"]["sha256"] and (tmp_path / "sweep" / "metrics.parquet").is_file()


def test_simulate_without_judgments_says_so(db, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no judgments"):
        call_command("simulate", "--out", str(tmp_path), "--local")


@pytest.mark.redis
@pytest.mark.slow
def test_a_sweep_on_celery_workers_equals_the_local_one(tmp_path):
    from feedback_site.governance.sweeps import CeleryExecutor
    from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

    def config(name):
        return SweepConfig(name="w", scenarios=("baseline", "sybil_attack"), policies=(PolicyVariant("volume", "volume"),),
                           seeds=2, root_seed=3, epochs=15, output=str(tmp_path / name))

    local = run_sweep(config("local"))
    worker = start_worker(queues="cpu")
    try:
        remote = run_sweep(config("remote"), executor=CeleryExecutor(timeout_s=300))
    finally:
        stop_worker(worker)
    for name in ("metrics.parquet", "lorenz.parquet"):  # per-epoch figures and end-of-run Lorenz curves
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
