"""The sweep report: sections in order, charts inline, checks computed from the numbers, clear errors."""

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator.cli import main
from simulator.metrics import LORENZ_GRID, lorenz_column
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
        "lorenz.parquet sha256",
        "attribution profile",
    ):
        assert key in block
    assert f"<code>{len(manifest['runs'])}</code>" in block
    # Every scenario of the sweep used the shipped profile: shown once, by hash and inputs.
    (profile,) = {json.dumps(entry, sort_keys=True) for entry in manifest["attribution_profiles"].values()}
    profile = json.loads(profile)
    for value in (profile["sha256"], profile["data_sha256"], profile["method"]):
        assert value in block


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


def test_the_attribution_profile_is_shown_per_scenario_when_they_differ_and_missing_is_said(
    tiny_sweep, tmp_path
):
    import shutil

    folder = tmp_path / "profiles"
    shutil.copytree(tiny_sweep, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (name, entry), *_ = manifest["attribution_profiles"].items()
    manifest["attribution_profiles"] = {
        name: entry,
        "other_scenario": dict(entry, sha256="e" * 64, method="tracin", seed=9),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    block = _section(build_report_html(folder), "reproducibility")
    assert "e" * 64 in block and entry["sha256"] in block and "other_scenario" in block
    del manifest["attribution_profiles"]  # a sweep made before manifests recorded the profile
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "not recorded" in _section(build_report_html(folder), "reproducibility")


# --- the Lorenz curve, the carry-over, who counts as an attacker -------------------------------


def _lorenz_rows(sweep_dir) -> list[dict]:
    return pq.read_table(sweep_dir / "lorenz.parquet").to_pylist()


def _recorded_curve(row) -> list[float]:
    return [row[lorenz_column(p)] for p in LORENZ_GRID]


def test_the_recorded_curves_are_well_formed_and_their_gini_agrees_with_them(tiny_sweep):
    for row in _lorenz_rows(tiny_sweep):
        curve = _recorded_curve(row)
        assert curve[0] == 0.0 and curve[-1] == 1.0
        assert all(b >= a for a, b in zip(curve, curve[1:], strict=False))
        # The Gini of the 21 points can only fall short of the exact one, and not by much.
        assert 0 <= row["gini"] - (1 - 2 * np.trapezoid(curve, LORENZ_GRID)) < 0.02


def test_the_lorenz_chart_and_the_gini_column_are_drawn_from_the_recorded_curves(tiny_sweep, tmp_path):
    import shutil

    import pyarrow as pa

    from simulator.report.charts import lorenz_figure

    folder = tmp_path / "recorded"
    shutil.copytree(tiny_sweep, folder)
    # Replace what the runs recorded by a curve no run would give: y = x**3 for the honest group,
    # with a Gini that differs by policy, so the chart and the table can only show it if they read it.
    rows = _lorenz_rows(folder)
    for row in rows:
        if row["group"] == "honest":
            row.update({lorenz_column(p): p**3 for p in LORENZ_GRID})
            row["gini"] = 0.5 if row["policy"] == "attribution_bonded" else 0.25
    pq.write_table(
        pa.Table.from_pylist(rows, schema=pq.read_schema(folder / "lorenz.parquet")),
        folder / "lorenz.parquet",
    )
    sweep = load_sweep(folder)

    figure = lorenz_figure(sweep)
    panels = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == sweep.scenarios
    for axis in panels:
        labels = [line.get_label() for line in axis.lines]
        assert labels[0] == "perfect equality" and list(axis.lines[0].get_ydata()) == [0, 1]
        honest = [line for line in axis.lines if line.get_label().startswith(tuple(sweep.policies))]
        assert [line.get_label().split(" (")[0] for line in honest] == sweep.policies
        for line in honest:
            assert np.allclose(line.get_ydata(), np.array(LORENZ_GRID) ** 3)
        assert "Gini 0.50" in honest[0].get_label() and "Gini 0.25" in honest[1].get_label()

    analysis = analyse(sweep)
    for scenario in sweep.scenarios:
        assert analysis.summaries[scenario, "attribution_bonded"]["honest_reward_gini"].median == 0.5
        assert analysis.summaries[scenario, "bonded_5x_fees"]["honest_reward_gini"].median == 0.25


def test_the_gini_column_is_the_median_of_the_recorded_ginis(tiny_sweep):
    analysis = analyse(load_sweep(tiny_sweep))
    rows = _lorenz_rows(tiny_sweep)
    for (scenario, policy), spread in analysis.summaries.items():
        ginis = [
            r["gini"]
            for r in rows
            if (r["scenario"], r["policy"], r["group"]) == (scenario, policy, "honest")
        ]
        assert len(ginis) == 2 and spread["honest_reward_gini"].median == pytest.approx(np.median(ginis))


def test_carry_over_is_shown_as_a_share_of_the_community_allocation(tiny_sweep, page):
    from simulator.accounting import ScheduleInSimUnits, genesis
    from simulator.scenarios import load_scenario

    table = pq.read_table(tiny_sweep / "metrics.parquet").to_pylist()
    manifest = json.loads((tiny_sweep / "manifest.json").read_text())
    analysis = analyse(load_sweep(tiny_sweep))
    for (scenario, policy), spread in analysis.summaries.items():
        schedule = ScheduleInSimUnits(load_scenario(manifest["scenarios"][scenario]).schedule_params())
        community = genesis(schedule.schedule).community
        shares = []
        for run in sorted({r["run_id"] for r in table if (r["scenario"], r["policy"]) == (scenario, policy)}):
            epochs = [r for r in table if r["run_id"] == run]
            last = max(epochs, key=lambda r: r["epoch"])
            # What the schedule kept back plus what it released is the whole allocation, to the unit.
            assert last["community_unreleased"] + sum(r["emission"] for r in epochs) == community
            shares.append(last["carry_over"] / community)
        assert spread["carried_over_share"].median == pytest.approx(np.median(shares))
        assert spread["carried_over_share"].median > 0
    header = re.search(r'<table id="scenario-table"><thead>(.*?)</thead>', page, re.S).group(1)
    assert "community allocation released but not paid (carried over)" in header
    assert "of the community allocation" in _section(page, "summary")


def test_the_page_says_which_kinds_count_as_attackers(page):
    for where in (_section(page, "summary"), _section(page, "scenarios")):
        definition = re.search(r"&#x27;Attackers&#x27; means (.*?)\.", where).group(1)
        for words in ("lazy random clickers", "label flippers", "sybil accounts", "colluders"):
            assert words in definition
        assert "not honest" in definition


def test_a_sweep_from_before_the_lorenz_curve_still_gets_a_report_that_says_what_is_missing(
    tiny_sweep, tmp_path
):
    import shutil

    folder = tmp_path / "v1"
    shutil.copytree(tiny_sweep, folder)
    (folder / "lorenz.parquet").unlink()
    with pytest.raises(ReportError, match=r"lorenz\.parquet: missing"):
        load_sweep(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format"] = "ledgerloop.simulator.sweep.v1"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    metrics = pq.read_table(folder / "metrics.parquet")
    pq.write_table(metrics.drop(["community_unreleased"]), folder / "metrics.parquet")

    page = build_report_html(folder)
    charts = _section(page, "charts")
    assert 'id="chart-lorenz"' not in charts and 'id="no-lorenz"' in charts
    assert len(re.findall(r'<figure id="chart-[a-z_]+"><svg', charts)) == 5
    analysis = analyse(load_sweep(folder))
    spread = analysis.summaries["baseline", "attribution_bonded"]
    assert np.isnan(spread["honest_reward_gini"].median) and np.isnan(spread["carried_over_share"].median)
