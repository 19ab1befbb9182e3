"""The sweep report: sections in order, charts inline, checks computed from the numbers, clear errors."""

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator.cli import main
from simulator.report import (
    SECTIONS,
    ReportError,
    Threshold,
    analyse,
    build_report_html,
    load_sweep,
    thresholds_from_data,
)


@pytest.fixture(scope="module")
def page(tiny_sweep) -> str:
    return build_report_html(tiny_sweep)


def _section(page: str, key: str) -> str:
    return re.search(rf'<section id="{key}">(.*?)</section>', page, re.S).group(1)


def test_sections_appear_once_each_in_the_documented_order(page):
    positions = [page.index(f'<section id="{key}">') for key, _ in SECTIONS]
    assert positions == sorted(positions)
    assert all(page.count(f'<section id="{key}">') == 1 for key, _ in SECTIONS)


def test_charts_are_inline_svg_and_the_page_needs_no_network(page):
    charts = _section(page, "charts")
    figures = re.findall(r'<figure id="(chart-[a-z_]+)"><svg', charts)
    assert figures == [
        "chart-price",
        "chart-emission",
        "chart-staking_ratio",
        "chart-attacker_reward_share",
        "chart-honest_retention",
        "chart-lorenz",
    ]
    assert "<path" in charts
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="https?:', page)


def test_parameter_table_marks_the_changed_parameter_and_names_current_and_proposed(page):
    table = re.search(r'<table id="parameter-table">(.*?)</table>', page, re.S).group(1)
    assert "attribution_bonded (current)" in table and "bonded_5x_fees (proposed)" in table
    changed = re.findall(r'<tr class="changed"><td>([a-z_]+)</td>', table)
    assert changed == ["fee_multiple_bps"]
    assert 'id="impact-bonded_5x_fees"' in page


def _final_retention_median(sweep_dir, scenario, policy):
    table = pq.read_table(sweep_dir / "metrics.parquet").to_pydict()
    last = {}
    for run, scen, pol, epoch, value in zip(
        table["run_id"],
        table["scenario"],
        table["policy"],
        table["epoch"],
        table["honest_retention"],
        strict=True,
    ):
        if scen == scenario and pol == policy and epoch >= last.get(run, (-1, 0))[0]:
            last[run] = (epoch, value)
    return float(np.median([value for _, value in last.values()]))


def test_checks_follow_the_numbers_on_either_side_of_the_threshold(tiny_sweep):
    sweep = load_sweep(tiny_sweep)
    median = _final_retention_median(tiny_sweep, "price_crash", "attribution_bonded")
    above = Threshold("honest_retention", ">", median - 1e-6, "price_crash", "just below")
    below = Threshold("honest_retention", ">", median + 1e-6, "price_crash", "just above")
    checks = {(c.threshold.label, c.policy): c for c in analyse(sweep, (above, below)).checks}
    assert checks["just below", "attribution_bonded"].passed
    assert not checks["just above", "attribution_bonded"].passed
    assert checks["just below", "attribution_bonded"].spread.median == pytest.approx(median)
    # Only the scenario with a price crash is checked.
    assert {c.scenario for c in checks.values()} == {"price_crash"}


def test_default_attack_check_covers_only_attack_scenarios_and_a_failure_shows_in_the_page(tiny_sweep):
    sweep = load_sweep(tiny_sweep)
    analysis = analyse(sweep)
    attack = [c for c in analysis.checks if c.threshold.metric == "attacker_reward_share"]
    assert {c.scenario for c in attack} == {"sybil_attack"} and len(attack) == 2
    for check in attack:
        assert check.passed == (check.spread.median < 0.05)
    impossible = (Threshold("attacker_reward_share", "<", -1.0, "attack", "impossible"),)
    page = build_report_html(sweep, thresholds=impossible)
    rows = re.findall(
        r'<tr class="(pass|fail)">', re.search(r'<table id="check-table">(.*?)</table>', page, re.S).group(1)
    )
    assert rows == ["fail", "fail"]
    assert "fails: impossible (sybil_attack)" in _section(page, "summary")


def test_reproducibility_block_records_what_produced_the_numbers(tiny_sweep, page):
    block = _section(page, "reproducibility")
    manifest = json.loads((tiny_sweep / "manifest.json").read_text())
    assert manifest["code"]["git_commit"] in block
    for key in (
        "number of runs",
        "seeds per scenario and policy",
        "calibration file sha256",
        "feedback log sha256",
        "fee_multiple_bps",
    ):
        assert key in block
    assert f"<code>{len(manifest['runs'])}</code>" in block


def test_bad_sweep_folders_get_an_error_that_names_the_file(tmp_path, tiny_sweep):
    with pytest.raises(ReportError, match="not a folder"):
        load_sweep(tmp_path / "nowhere")
    with pytest.raises(ReportError, match=r"manifest\.json: missing"):
        load_sweep(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something else"}')
    (tmp_path / "metrics.parquet").write_bytes((tiny_sweep / "metrics.parquet").read_bytes())
    with pytest.raises(ReportError, match=r"manifest\.json: field 'format'"):
        load_sweep(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        load_sweep(tmp_path)


def test_bad_thresholds_are_refused_with_where():
    with pytest.raises(ReportError, match=r"checks\[0\]: .*'metric' must be one of"):
        thresholds_from_data([{"metric": "nope", "operator": "<", "value": 1}], where="checks")
    with pytest.raises(ReportError, match=r"'operator'"):
        Threshold("price", "!=", 1.0)


def test_command_line_writes_the_report_and_reports_a_bad_folder(tiny_sweep, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(tiny_sweep), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_pdf_has_a_page_per_chart_after_the_summary(tiny_sweep, tmp_path):
    out, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    assert main(["report", str(tiny_sweep), "--out", str(out), "--pdf", str(pdf)]) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") == 7


def test_a_calibrated_sweep_shows_its_fit_and_the_hashes_of_its_inputs(tiny_sweep, tmp_path):
    import shutil

    folder = tmp_path / "calibrated"
    shutil.copytree(tiny_sweep, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["calibration"] = {
        "file": "calibration.json",
        "sha256": "c" * 64,
        "data": {
            "log": {"file": "log.jsonl", "sha256": "f" * 64, "rows": 900, "annotators": 30, "days": 20},
            "fits": {
                "arrivals": {"method": "poisson", "ks_statistic": 0.08, "p_value": 0.61, "n": 30},
                "seconds_per_judgment": {
                    "method": "lognormal",
                    "ks_statistic": 0.31,
                    "p_value": 0.001,
                    "n": 900,
                },
            },
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    page = build_report_html(folder)
    table = re.search(r'<table id="calibration-table">(.*?)</table>', page, re.S).group(1)
    verdicts = re.findall(r"<td>(fits|check)</td></tr>", table)
    assert verdicts == ["fits", "check"]
    block = _section(page, "reproducibility")
    assert "c" * 64 in block and "f" * 64 in block
    assert "Uncalibrated" not in _section(page, "limitations")
