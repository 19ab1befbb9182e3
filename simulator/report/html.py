"""The sweep report as one self-contained HTML page (no script, no CDN, inline SVG charts)."""

from __future__ import annotations

import hashlib
import json
import math
from html import escape
from pathlib import Path
from typing import Any

from simulator.attribution_model import ATTACKER_KINDS, Kind
from simulator.report.analysis import (
    SUMMARY_METRICS,
    Analysis,
    Spread,
    Threshold,
    analyse,
    impacts,
    parameter_rows,
)
from simulator.report.data import SweepData, load_sweep

# The sections in the order a reader meets them: (id, heading).
SECTIONS = (
    ("summary", "Executive summary"),
    ("parameters", "Current vs proposed parameters"),
    ("scenarios", "Scenarios x metrics"),
    ("charts", "Charts"),
    ("assumptions", "Assumptions and validation"),
    ("limitations", "Limitations"),
    ("reproducibility", "Reproducibility"),
)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
.pass{background:#e3f6e3}.fail{background:#fbe0e0;font-weight:bold}.changed{background:#fff6d6}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}
code,pre{background:#f4f4f4;font-size:.85em}pre{padding:.5em;overflow:auto}
"""


def _number(value: float, digits: int = 4) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _open(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "n/a"


def _percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "n/a"


def _spread(spread: Spread) -> str:
    return f"{_number(spread.median)} [{_number(spread.p5)}, {_number(spread.p95)}]"


def _table(
    header: list[str], rows: list[list[str]], *, row_classes: list[str] | None = None, table_id: str = ""
) -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(
        f'<tr class="{(row_classes or [""] * len(rows))[i]}">'
        + "".join(f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    identifier = f' id="{table_id}"' if table_id else ""
    return f"<table{identifier}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# How a reader should picture each attacker kind; every kind but honest must be here.
ATTACKER_KIND_WORDS = {
    Kind.LAZY: "lazy random clickers (spam)",
    Kind.FLIPPER: "label flippers (poisoning)",
    Kind.SYBIL: "sybil accounts (one operator, many accounts)",
    Kind.COLLUDER: "colluders (a ring agreeing on answers)",
}


def attacker_definition() -> str:
    """Which contributor kinds the attacker figures count, in plain words."""
    missing = [kind.label for kind in ATTACKER_KINDS if kind not in ATTACKER_KIND_WORDS]
    if missing:
        raise KeyError(f"ATTACKER_KIND_WORDS: no words for the attacker kind(s) {', '.join(missing)}")
    kinds = [ATTACKER_KIND_WORDS[kind] for kind in ATTACKER_KINDS]
    return (
        "'Attackers' means every contributor account that is not honest: "
        + ", ".join(kinds[:-1])
        + f" and {kinds[-1]}. Organic lazy clickers and label flippers count too, so the attackers' "
        "share is above zero even in a scenario without an attack."
    )


ORACLE_NOTE = (
    "Fair pay is what the oracle would pay: each epoch's emission and the contributors' part of the fees, "
    "in proportion to each account's true contribution, which only the simulation knows. Every run "
    "compares the policy's pay of its honest accounts with the oracle's pay of the same accounts; a sweep "
    "that also runs the 'oracle' policy draws it on the charts as a black dashed line. Figures marked n/a "
    "need the sweep run again with this version."
)


def summary_bullets(sweep: SweepData, analysis: Analysis) -> list[str]:
    """A few plain sentences with numbers, for someone who reads nothing else."""
    runs = len(sweep.manifest["runs"])
    current = sweep.policies[0]
    bullets = [
        f"{runs} simulation runs: {len(sweep.scenarios)} scenarios x {len(sweep.policies)} policies x "
        f"{sweep.manifest.get('seeds', '?')} seeds; the first policy, {current!r}, is the current one."
    ]
    for policy in sweep.policies:
        passed, total = analysis.passed(policy)
        failing = sorted(
            {
                f"{c.threshold.describe()} ({c.scenario})"
                for c in analysis.checks
                if c.policy == policy and not c.passed
            }
        )
        pooled = analysis.pooled[policy]
        bullets.append(
            f"{policy}: passes {passed} of {total} checks"
            + (f"; fails: {'; '.join(failing)}" if failing else "")
            + f". Attackers' share of rewards, median over all runs {pooled['attacker_reward_share'].median:.2%}; "
            f"honest retention {pooled['honest_retention'].median:.1%}; price {_number(pooled['price'].median)} USD; "
            f"at the end {_percent(pooled['carried_over_share'].median)} of the community allocation "
            f"({_open(pooled['carried_over_open'].median)} OPEN) had been released but not paid: it is "
            "carried over. Against fair pay (the oracle's pay of the same accounts): rank correlation "
            f"{_number(pooled['honest_rank_correlation'].median)}, honest pay {_percent(pooled['honest_pay_ratio'].median)} "
            f"of it; a newcomer's first payout after {_number(pooled['first_payout_days_median'].median)} days "
            f"(median), {_percent(pooled['newcomers_never_paid'].median)} of newcomers unpaid within 90 days."
        )
    for proposed in sweep.policies[1:]:
        moved = [
            i
            for i in impacts(analysis, current=current, proposed=proposed)
            if i.verdict in ("gains", "loses")
        ]
        if moved:
            bullets.append(
                f"{proposed} vs {current}: "
                + "; ".join(
                    f"{i.group} {i.verdict} ({_number(i.current)} -> {_number(i.proposed)})" for i in moved
                )
                + "."
            )
    bullets.append(attacker_definition())
    bullets.append(ORACLE_NOTE)
    return bullets


def _summary_section(sweep: SweepData, analysis: Analysis) -> str:
    return "<ul>" + "".join(f"<li>{escape(text)}</li>" for text in summary_bullets(sweep, analysis)) + "</ul>"


def _parameters_section(sweep: SweepData, analysis: Analysis) -> str:
    labels = sweep.policies
    header = [
        "parameter",
        *(escape(f"{label} ({'current' if i == 0 else 'proposed'})") for i, label in enumerate(labels)),
    ]
    rows, classes = [], []
    for name, values, differs in parameter_rows(sweep.manifest):
        rows.append(
            [
                escape(name),
                *(escape(json.dumps(value) if not isinstance(value, str) else value) for value in values),
            ]
        )
        classes.append("changed" if differs else "")
    html = _table(header, rows, row_classes=classes, table_id="parameter-table")
    if len(labels) == 1:
        return html + "<p>This sweep has one policy: there is nothing to compare it with.</p>"
    for proposed in labels[1:]:
        found = impacts(analysis, current=labels[0], proposed=proposed)
        html += f"<h3>Who gains or loses: {escape(proposed)} vs {escape(labels[0])}</h3>"
        html += _table(
            ["group", "measured by", "current (median)", "proposed (median)", "change", "verdict"],
            [
                [
                    escape(i.group),
                    escape(f"{SUMMARY_METRICS[i.metric][0]} ({SUMMARY_METRICS[i.metric][1]})"),
                    _number(i.current),
                    _number(i.proposed),
                    f"{i.relative:+.1%}" if math.isfinite(i.relative) else "n/a",
                    escape(
                        i.verdict
                        if i.group != "attackers"
                        else {"gains": "gains (bad)", "loses": "loses (good)"}.get(i.verdict, i.verdict)
                    ),
                ]
                for i in found
            ],
            table_id=f"impact-{escape(proposed)}",
        )
    return html


def _scenarios_section(sweep: SweepData, analysis: Analysis) -> str:
    metrics = list(SUMMARY_METRICS)
    header = [
        "scenario",
        "policy",
        *(escape(f"{SUMMARY_METRICS[m][0]} ({SUMMARY_METRICS[m][1]})") for m in metrics),
    ]
    rows = [
        [
            escape(scenario),
            escape(policy),
            *(_spread(analysis.summaries[scenario, policy][m]) for m in metrics),
        ]
        for scenario in sweep.scenarios
        for policy in sweep.policies
    ]
    html = f"<p>Each cell: median over seeds [p5, p95]. {escape(attacker_definition())}</p>" + _table(
        header, rows, table_id="scenario-table"
    )
    html += (
        "<h3>Checks</h3><p>Thresholds (given as data): "
        + "; ".join(escape(t.describe()) for t in analysis.thresholds)
        + ". A check passes when the median over seeds meets the threshold.</p>"
    )
    if not analysis.checks:
        return html + "<p>No scenario in this sweep is covered by a threshold.</p>"
    html += _table(
        ["check", "scenario", "policy", "median [p5, p95]", "result"],
        [
            [
                escape(c.threshold.describe()),
                escape(c.scenario),
                escape(c.policy),
                _spread(c.spread),
                "PASS" if c.passed else "FAIL",
            ]
            for c in analysis.checks
        ],
        row_classes=["pass" if c.passed else "fail" for c in analysis.checks],
        table_id="check-table",
    )
    return html


def _charts_section(sweep: SweepData) -> str:
    from simulator.report.charts import all_figures, figure_svg

    html = "".join(
        f'<figure id="{identifier}">{figure_svg(figure)}<figcaption>{escape(caption)}</figcaption></figure>'
        for identifier, caption, figure in all_figures(sweep)
    )
    if sweep.lorenz is None:
        html += (
            '<p id="no-lorenz">This sweep was made before runs recorded the Lorenz curve of their '
            "rewards (manifest format v1): run the sweep again to see the curve and the Gini of rewards.</p>"
        )
    return html


def _assumptions_section(sweep: SweepData) -> str:
    manifest = sweep.manifest
    html = (
        "<ul>"
        + "".join(
            f"<li><b>{escape(name)}</b>: {escape(str(data.get('description', '')))} ({data.get('epochs')} epochs)</li>"
            for name, data in manifest["scenarios"].items()
        )
        + "</ul>"
    )
    html += f"<p>Engine {escape(str(manifest.get('engine')))}, settlement {escape(str(manifest.get('settlement')))}. Money unit: {escape(str(manifest.get('money_unit', '')))}.</p>"
    calibration = manifest.get("calibration")
    if not calibration:
        return (
            html
            + "<p>No calibration: contributors follow the scenarios' assumed distributions, not fits to a real feedback log.</p>"
        )
    data = calibration.get("data") or {}
    log = data.get("log", {})
    html += f"<p>Contributors calibrated from the feedback log {escape(str(log.get('file', '?')))} ({log.get('rows', '?')} rows, {log.get('annotators', '?')} contributors, {log.get('days', '?')} days). Goodness of fit (Kolmogorov-Smirnov between the log and samples from the fitted distribution; a small statistic and a p-value above 0.05 mean no evidence of a misfit):</p>"
    rows = []
    for name, fit in (data.get("fits") or {}).items():
        p_value = fit.get("p_value", float("nan"))
        rows.append(
            [
                escape(name),
                escape(str(fit.get("method", ""))),
                _number(fit.get("ks_statistic", float("nan")), 3),
                _number(p_value, 3),
                str(fit.get("n", "")),
                "fits" if isinstance(p_value, float) and p_value > 0.05 else "check",
            ]
        )
    return html + _table(
        ["quantity", "method", "KS statistic", "p-value", "n", "verdict"], rows, table_id="calibration-table"
    )


def _limitations_section(sweep: SweepData) -> str:
    seeds = sweep.manifest.get("seeds", 0)
    items = [
        "Attribution in the simulator is a model of the real influence measurement (its noise and bias are assumptions), not the measurement itself.",
        "Agents follow fixed behavioural rules; real people and attackers adapt in ways no scenario lists.",
        "The market is a single constant-product pool with outside shocks given as data; no order book, no other venues.",
        "The Lorenz curve counts accounts, not people: a sybil operator's accounts are many points, and "
        "an honest person with two accounts is two.",
        "Attackers' share of rewards over a run weights each epoch by the emission paid, not by fees.",
        "Because organic lazy clickers and label flippers count as attackers, the attack check is "
        "conservative: it fails sooner than one that counted the attack's accounts only.",
    ]
    if isinstance(seeds, int) and seeds < 20:
        items.append(f"Only {seeds} seeds per scenario and policy: p5 and p95 are rough with so few runs.")
    if not sweep.manifest.get("calibration"):
        items.append("Uncalibrated: contributor behaviour is assumed, not fitted to a real feedback log.")
    return "<ul>" + "".join(f"<li>{escape(text)}</li>" for text in items) + "</ul>"


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "n/a"


_PROFILE_ITEMS = ("file", "sha256", "method", "overlap", "by_kind", "data_file", "data_sha256", "seed")


def _attribution_profiles(manifest: dict[str, Any]) -> Any:
    """The profile that scored the work: one entry when every scenario used the same, else one
    per scenario; a sweep made before manifests recorded it says so."""
    profiles = manifest.get("attribution_profiles")
    if not profiles:
        return "not recorded in this sweep's manifest"
    shown = {name: {key: entry.get(key) for key in _PROFILE_ITEMS} for name, entry in profiles.items()}
    distinct = {json.dumps(entry, sort_keys=True) for entry in shown.values()}
    return next(iter(shown.values())) if len(distinct) == 1 else shown


def reproducibility(sweep: SweepData) -> dict[str, Any]:
    """What produced the numbers, as data (also shown in the page)."""
    manifest = sweep.manifest
    calibration = manifest.get("calibration") or {}
    replay = manifest.get("replay") or {}
    log = (calibration.get("data") or {}).get("log") or {}
    return {
        "code version": manifest.get("code"),
        "library versions": manifest.get("versions"),
        "policies and parameters": manifest.get("policies"),
        "scenarios": list(manifest["scenarios"]),
        "root seed": manifest.get("root_seed"),
        "seeds per scenario and policy": manifest.get("seeds"),
        "seed rule": manifest.get("seed_rule"),
        "number of runs": len(manifest["runs"]),
        "calibration file sha256": calibration.get("sha256"),
        "feedback log sha256": replay.get("sha256") or log.get("sha256"),
        "attribution profile": _attribution_profiles(manifest),
        "metrics.parquet sha256": _file_hash(sweep.folder / "metrics.parquet"),
        "lorenz.parquet sha256": _file_hash(sweep.folder / "lorenz.parquet"),
        "created": manifest.get("created"),
    }


def _reproducibility_section(sweep: SweepData) -> str:
    data = reproducibility(sweep)
    rows = [
        [escape(key), f"<code>{escape(json.dumps(value, sort_keys=True, default=str))}</code>"]
        for key, value in data.items()
    ]
    return _table(["item", "value"], rows, table_id="reproducibility-table")


def build_report_html(
    sweep: SweepData | str | Path, *, thresholds: tuple[Threshold, ...] | None = None, charts: bool = True
) -> str:
    """The whole report page; ``charts=False`` gives the same page without its charts."""
    if not isinstance(sweep, SweepData):
        sweep = load_sweep(sweep)
    analysis = analyse(sweep, thresholds)
    bodies = {
        "summary": _summary_section(sweep, analysis),
        "parameters": _parameters_section(sweep, analysis),
        "scenarios": _scenarios_section(sweep, analysis),
        "charts": _charts_section(sweep) if charts else "<p>Charts left out.</p>",
        "assumptions": _assumptions_section(sweep),
        "limitations": _limitations_section(sweep),
        "reproducibility": _reproducibility_section(sweep),
    }
    title = f"Simulation report: {sweep.manifest.get('name', sweep.folder.name)}"
    sections = "".join(
        f'<section id="{key}"><h2>{escape(heading)}</h2>{bodies[key]}</section>' for key, heading in SECTIONS
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{sections}</body></html>\n"
    )


def write_report(
    sweep_dir: str | Path,
    out: str | Path,
    *,
    pdf: str | Path | None = None,
    thresholds: tuple[Threshold, ...] | None = None,
) -> Path:
    """Write the HTML report of ``sweep_dir`` to ``out`` (and its summary and charts to ``pdf``)."""
    sweep = load_sweep(sweep_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report_html(sweep, thresholds=thresholds), encoding="utf-8")
    if pdf is not None:
        write_pdf(sweep, pdf, thresholds=thresholds)
    return out


def write_pdf(sweep: SweepData, path: str | Path, *, thresholds: tuple[Threshold, ...] | None = None) -> Path:
    """A PDF with the executive summary on its first page and one chart per page after it."""
    import textwrap

    from matplotlib.backends.backend_pdf import PdfPages

    from simulator.report.charts import _pyplot, all_figures

    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bullets = summary_bullets(sweep, analyse(sweep, thresholds))
    with PdfPages(path) as pages:
        figure = plt.figure(figsize=(8.27, 11.69))
        text = "\n".join("\n".join(textwrap.wrap(f"- {b}", 95)) for b in bullets)
        figure.text(0.06, 0.95, f"Simulation report: {sweep.manifest.get('name', '')}", fontsize=14, va="top")
        figure.text(0.06, 0.90, text, fontsize=8, va="top", family="monospace")
        pages.savefig(figure)
        plt.close(figure)
        for _, _, chart in all_figures(sweep):
            pages.savefig(chart, bbox_inches="tight")
            plt.close(chart)
    return path
