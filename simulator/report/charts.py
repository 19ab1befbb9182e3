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


ORACLE_STYLE = {"color": "black", "linestyle": "--"}


def _line_style(sweep: SweepData, policy: str) -> tuple[dict[str, Any], str]:
    """The oracle (fair pay) is drawn as a black dashed line, so every chart shows how far each
    policy is from it; the real policies take the colour cycle."""
    if sweep.manifest["policies"].get(policy, {}).get("policy") == "oracle":
        return ORACLE_STYLE, f"{policy} (fair pay)"
    return {}, policy


def time_series_figure(sweep: SweepData, metric: str) -> Any:
    """One panel per scenario; one line (median over seeds) and band (p5-p95) per policy."""
    plt = _pyplot()
    title, unit = TIME_SERIES[metric]
    scenarios = sweep.scenarios
    figure, axes, columns = _panel_grid(plt, len(scenarios), width=3.4, height=2.6, sharex=True)
    for index, scenario in enumerate(scenarios):
        axis = axes[index // columns][index % columns]
        for policy in sweep.policies:
            table = sweep.series(metric, scenario=scenario, policy=policy)
            with np.errstate(all="ignore"), _quiet():
                p5, median, p95 = np.nanpercentile(table, (5, 50, 95), axis=0)
            epochs = np.arange(table.shape[1])
            style, label = _line_style(sweep, policy)
            (line,) = axis.plot(epochs, median, linewidth=1.2, label=label, **style)
            axis.fill_between(epochs, p5, p95, alpha=0.2, color=line.get_color(), linewidth=0)
        axis.set_title(scenario, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("epoch", fontsize=7)
        axis.set_ylabel(unit, fontsize=7)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(f"{title}: median over seeds, band p5-p95", fontsize=10)
    return figure


def _panel_grid(
    plt: Any, panels: int, *, width: float, height: float, **options: Any
) -> tuple[Any, Any, int]:
    """A figure with one small panel per scenario, at most four a row; returns it, its axes, columns."""
    columns = min(4, panels)
    rows = -(-panels // columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(width * columns, height * rows + 0.4),
        squeeze=False,
        layout="constrained",
        **options,
    )
    for index in range(panels, rows * columns):
        axes[index // columns][index % columns].axis("off")
    return figure, axes, columns


def lorenz_figure(sweep: SweepData) -> Any:
    """One panel per scenario: per policy, the median over runs of the recorded Lorenz curve of
    honest accounts' rewards over the run (solid, with its p5-p95 band) and of every contributor
    account's (dashed), against the line of perfect equality. The legend gives the median Gini of
    the same per-account totals. None when the sweep recorded no Lorenz curve (format v1)."""
    if sweep.lorenz is None:
        return None
    from simulator.metrics import LORENZ_GRID

    plt = _pyplot()
    figure, axes, columns = _panel_grid(plt, len(sweep.scenarios), width=3.0, height=3.0)
    for index, scenario in enumerate(sweep.scenarios):
        axis = axes[index // columns][index % columns]
        axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfect equality")
        for policy in sweep.policies:
            curves = {
                group: sweep.lorenz_curves(group=group, scenario=scenario, policy=policy)
                for group in ("honest", "all")
            }
            gini = {
                group: np.nanmedian(sweep.lorenz_value("gini", group=group, scenario=scenario, policy=policy))
                for group in curves
            }
            with np.errstate(all="ignore"), _quiet():
                p5, median, p95 = np.nanpercentile(curves["honest"], (5, 50, 95), axis=0)
                median_all = np.nanmedian(curves["all"], axis=0)
            style, label = _line_style(sweep, policy)
            (line,) = axis.plot(
                LORENZ_GRID,
                median,
                linewidth=1.2,
                label=f"{label} (Gini {gini['honest']:.2f}; all {gini['all']:.2f})",
                **style,
            )
            axis.fill_between(LORENZ_GRID, p5, p95, alpha=0.2, color=line.get_color(), linewidth=0)
            axis.plot(
                LORENZ_GRID,
                median_all,
                linewidth=0.9,
                linestyle=":" if style else "--",
                color=line.get_color(),
            )
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_aspect("equal")
        axis.set_title(scenario, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("share of accounts, poorest first", fontsize=7)
        axis.set_ylabel("share of rewards", fontsize=7)
        axis.legend(fontsize=6, loc="upper left")
    figure.suptitle(
        "Lorenz curve of rewards over the run: honest accounts (solid, band p5-p95), all accounts (dashed)",
        fontsize=10,
    )
    return figure


class _quiet:
    """Silence numpy's all-NaN-slice warning: an epoch no run reached is simply not drawn."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
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
    lorenz = lorenz_figure(sweep)
    if lorenz is not None:
        figures.append(
            (
                "chart-lorenz",
                "Lorenz curve of contributors' rewards over the whole run, per scenario and policy: "
                "the median over runs of the curve each run recorded at its end (exact, from every "
                "account's total; 21 points), with the p5-p95 band for honest accounts. Accounts "
                "that arrived and were never paid count, at zero. The Gini in the legend is the "
                "median over runs, from the same totals.",
                lorenz,
            )
        )
    return figures
