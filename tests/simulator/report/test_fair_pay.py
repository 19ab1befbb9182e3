"""The report against fair pay: the oracle's line on the charts, attackers' share over the attack
period, and each policy's pay of honest contributors against the oracle's."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from simulator.report import analyse, build_report_html, load_sweep
from simulator.report.analysis import stress_start
from simulator.report.charts import time_series_figure
from simulator.sweep import PolicyVariant, SweepConfig, run_sweep
from tests.simulator.conftest import small

POLICIES = ("attribution", "attribution_evidence", "oracle")


@pytest.fixture(scope="module")
def fair_sweep(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fair_sweep")
    data = small("spam_wave", epochs=110, contributors=80).to_data()  # newcomers are followed 90 epochs
    data["attacks"][0].update(start_epoch=10, ramp_epochs=2, actors=60)
    path = folder / "spam_wave.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = SweepConfig(
        name="fair",
        scenarios=(str(path),),
        policies=tuple(PolicyVariant(name, name) for name in POLICIES),
        seeds=2,
        root_seed=3,
        output=str(folder / "sweep"),
    )
    return run_sweep(config)


def test_the_oracle_is_a_black_dashed_line_on_every_chart(fair_sweep):
    figure = time_series_figure(load_sweep(fair_sweep), "attacker_reward_share")
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    oracle = lines["oracle (fair pay)"]
    assert oracle.get_color() == "black" and oracle.get_linestyle() == "--"
    assert lines["attribution"].get_linestyle() == "-" and lines["attribution"].get_color() != "black"


def test_attackers_share_is_taken_over_the_attack_period_from_the_integer_totals(fair_sweep):
    sweep = load_sweep(fair_sweep)
    assert stress_start(sweep, "spam_wave") == 10
    analysis = analyse(sweep)
    metrics = pq.read_table(fair_sweep / "metrics.parquet").to_pandas()
    for policy in POLICIES:
        rows = metrics[(metrics.policy == policy) & (metrics.epoch >= 10)]
        per_run = rows.groupby("run_id")[["attacker_rewards", "rewards"]].sum()
        expected = np.median(per_run.attacker_rewards / per_run.rewards)
        assert analysis.summaries["spam_wave", policy]["attacker_reward_share"].median == pytest.approx(
            expected
        )
    shares = {
        policy: analysis.summaries["spam_wave", policy]["attacker_reward_share"].median for policy in POLICIES
    }
    assert shares["oracle"] == 0.0  # lazy clickers add nothing: the oracle pays them nothing
    assert shares["attribution_evidence"] < shares["attribution"]


def test_each_policy_is_measured_against_fair_pay_and_the_page_says_so(fair_sweep):
    analysis = analyse(load_sweep(fair_sweep))
    oracle = analysis.summaries["spam_wave", "oracle"]
    assert oracle["honest_rank_correlation"].median > 0.99
    assert oracle["honest_pay_ratio"].median == pytest.approx(1.0, abs=1e-6)
    for policy in ("attribution", "attribution_evidence"):
        figures = analysis.summaries["spam_wave", policy]
        assert 0 < figures["honest_pay_ratio"].median <= 1.0 + 1e-9
        assert figures["honest_rank_correlation"].median < oracle["honest_rank_correlation"].median
        assert figures["first_payout_days_median"].median >= 0
    checked = {c.threshold.metric for c in analysis.checks if c.policy == "attribution"}
    assert {"honest_rank_correlation", "honest_pay_ratio", "attacker_reward_share"} <= checked
    page = build_report_html(fair_sweep)
    assert (
        "rank correlation of honest pay with fair pay" in page
        and "Fair pay is what the oracle would pay" in page
    )
