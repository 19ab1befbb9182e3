"""Reports on a sweep: one self-contained HTML page (and optionally a PDF) for governance.

    python -m simulator report var/sweeps/standard --out var/reports/standard.html [--pdf FILE.pdf]

Public API:
    data.load_sweep(folder) -> SweepData            # ReportError on a folder that is not a sweep
    SweepData.series(metric, *, scenario, policy) -> (runs, epochs) array
    SweepData.lorenz_curves(*, group, scenario, policy) -> (runs, 21) array of recorded Lorenz curves
    analysis.analyse(sweep, thresholds=None) -> Analysis
    analysis.default_thresholds() / thresholds_from_data(list_of_dicts) -> tuple[Threshold, ...]
    html.build_report_html(sweep_or_folder, *, thresholds=None, charts=True) -> str
    html.write_report(sweep_dir, out, *, pdf=None, thresholds=None) -> Path
    html.SECTIONS                                    # (id, heading) in page order

The first policy of the sweep is the current one; every other is a proposal compared with it.
The Lorenz curve and the Gini of rewards come from lorenz.parquet, which each run records at its
end from every contributor account's cumulative rewards; a sweep made before that (manifest format
v1) still gets a report, which says the curve is missing.
"""

from simulator.report.analysis import Threshold, analyse, default_thresholds, thresholds_from_data
from simulator.report.data import ReportError, SweepData, load_sweep
from simulator.report.html import SECTIONS, build_report_html, write_report

__all__ = [
    "SECTIONS",
    "ReportError",
    "SweepData",
    "Threshold",
    "analyse",
    "build_report_html",
    "default_thresholds",
    "load_sweep",
    "thresholds_from_data",
    "write_report",
]
