"""The report's charts, drawn server-side by matplotlib (Agg) as SVG text to inline in the page."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from simulator.report.data import SweepData

# metric -> (title, y label); the charts of medians over time with their p5-p95 band.
TIME_SERIES = {
    "price": ("Price of OPEN", "USD/OPEN"),
    "emission": ("Emission per epoch", "micro-OPEN"),
    "staking_ratio": ("Staking ratio", "share"),
    "attacker_reward_share": ("Attackers' share of rewards", "share"),
    "honest_retention": ("Honest retention", "share"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # A fixed salt for the SVG's element ids: the same sweep gives the same page, byte for byte.
    matplotlib.rcParams["svg.hashsalt"] = "ledgerloop-report"
    import matplotlib.pyplot as plt

    return plt


def figure_svg(figure: Any) -> str:
    buffer = io.StringIO()
    # No date in the metadata, so the same numbers give the same SVG.
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def time_series_figure(sweep: SweepData, metric: str) -> Any:
    """One panel per scenario; one line (median over seeds) and band (p5-p95) per policy."""
    plt = _pyplot()
    title, unit = TIME_SERIES[metric]
    scenarios = sweep.scenarios
    columns = min(4, len(scenarios))
    rows = -(-len(scenarios) // columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns, 2.6 * rows + 0.4),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    for index, scenario in enumerate(scenarios):
        axis = axes[index // columns][index % columns]
        for policy in sweep.policies:
            table = sweep.series(metric, scenario=scenario, policy=policy)
            with np.errstate(all="ignore"), _quiet():
                p5, median, p95 = np.nanpercentile(table, (5, 50, 95), axis=0)
            epochs = np.arange(table.shape[1])
            (line,) = axis.plot(epochs, median, linewidth=1.2, label=policy)
            axis.fill_between(epochs, p5, p95, alpha=0.2, color=line.get_color(), linewidth=0)
        axis.set_title(scenario, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("epoch", fontsize=7)
        axis.set_ylabel(unit, fontsize=7)
    for index in range(len(scenarios), rows * columns):
        axes[index // columns][index % columns].axis("off")
    axes[0][0].legend(fontsize=7)
    figure.suptitle(f"{title}: median over seeds, band p5-p95", fontsize=10)
    return figure


def lorenz_points(top10_share: float) -> tuple[list[float], list[float]]:
    """The Lorenz curve's points the sweep knows: (0, 0), (0.9, 1 - top 10% share), (1, 1)."""
    return [0.0, 0.9, 1.0], [0.0, 1.0 - top10_share, 1.0]


def lorenz_figure(sweep: SweepData) -> Any:
    """Honest contributors' rewards at the last epoch, per policy, from the recorded top-10% share
    (median over every scenario and seed); the Gini median is in the legend."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.2, 4.0), layout="constrained")
    axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="perfect equality")
    for policy in sweep.policies:
        chosen = sweep.columns["policy"] == policy
        last = _last_epoch_rows(sweep, chosen)
        top10 = float(np.nanmedian(sweep.columns["honest_reward_top10_share"][last]))
        gini = float(np.nanmedian(sweep.columns["honest_reward_gini"][last]))
        x, y = lorenz_points(top10)
        axis.plot(x, y, marker="o", markersize=3, label=f"{policy} (Gini {gini:.2f})")
    axis.set_xlabel("share of honest contributors (poorest first)", fontsize=8)
    axis.set_ylabel("share of their rewards", fontsize=8)
    axis.set_title("Lorenz curve of rewards, last epoch", fontsize=10)
    axis.legend(fontsize=7)
    return figure


def _last_epoch_rows(sweep: SweepData, chosen: np.ndarray) -> np.ndarray:
    run_ids = sweep.columns["run_id"]
    epochs = sweep.columns["epoch"]
    last_by_run: dict[str, int] = {}
    for run_id, epoch in zip(run_ids[chosen], epochs[chosen], strict=True):
        last_by_run[run_id] = max(int(epoch), last_by_run.get(run_id, -1))
    return chosen & np.array([last_by_run.get(r, -2) == e for r, e in zip(run_ids, epochs, strict=True)])


class _quiet:
    """Silence numpy's all-NaN-slice warning: an epoch no run reached is simply not drawn."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


def all_figures(sweep: SweepData) -> list[tuple[str, str, Any]]:
    """(id, caption, matplotlib figure) for every chart, in the report's order."""
    figures = [
        (
            f"chart-{metric}",
            f"{title}: median over seeds with the p5-p95 band, per scenario and policy.",
            time_series_figure(sweep, metric),
        )
        for metric, (title, _) in TIME_SERIES.items()
    ]
    figures.append(
        (
            "chart-lorenz",
            "Lorenz curve of honest contributors' rewards at the last epoch (median over runs). The sweep records "
            "the top 10% share and the Gini, not every reward, so the curve is drawn through the points it knows.",
            lorenz_figure(sweep),
        )
    )
    return figures
