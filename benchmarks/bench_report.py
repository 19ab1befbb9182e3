"""How long a sweep report takes to build, how big it is, and how fast Chromium opens it, each
against a baseline measured in the same run: the same page without its charts (same tables, same
text), so the ratio is the cost of the charts.

    python benchmarks/bench_report.py                        # a 64-run sweep, then the report
    python benchmarks/bench_report.py --sweep var/sweeps/standard --repeats 5
    python benchmarks/bench_report.py --json var/bench_report.json

The sweep: 4 scenarios x 2 policies (the current attribution_bonded and one with 5x the fee bond)
x 8 seeds = 64 runs, --epochs long (default 120), on --processes local processes. Its time is
printed but is not the subject here (see bench_simulator.py).

Load time: Debian's Chromium (headless, through Playwright) opens each page from a file;
loadEventEnd - startTime of the navigation, median of --repeats loads in fresh tabs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from simulator.report import build_report_html, load_sweep
from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

CHROMIUM = "/usr/bin/chromium"
SCENARIOS = ("baseline", "sybil_attack", "collusion_ring", "price_crash")


def make_sweep(folder: Path, *, epochs: int, seeds: int, processes: int) -> Path:
    config = SweepConfig(
        name="bench-report",
        scenarios=SCENARIOS,
        policies=(
            PolicyVariant("attribution_bonded", "attribution_bonded"),
            PolicyVariant("bonded_5x_fees", "attribution_bonded", {"fee_multiple_bps": 50000}),
        ),
        seeds=seeds,
        root_seed=20260101,
        processes=processes,
        epochs=epochs,
        output=str(folder),
    )
    return run_sweep(config)


def time_build(sweep_dir: Path, *, charts: bool, repeats: int) -> tuple[float, str]:
    seconds, page = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        # Loading is part of building: a report starts from the folder.
        page = build_report_html(load_sweep(sweep_dir), charts=charts)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), page


def load_times(paths: dict[str, Path], *, repeats: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        results: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(repeats):
            for name, path in paths.items():  # interleaved, so drift in the machine's load hits both
                page = browser.new_page()
                page.goto(path.resolve().as_uri(), wait_until="load")
                milliseconds = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"
                )
                results[name].append(milliseconds / 1000)
                page.close()
        browser.close()
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sweep", help="report on this sweep folder instead of running the 64-run sweep")
    parser.add_argument("--epochs", type=int, default=120, help="epochs per run of the sweep; default 120")
    parser.add_argument(
        "--seeds", type=int, default=8, help="seeds per scenario and policy; default 8 (64 runs)"
    )
    parser.add_argument("--processes", type=int, default=2, help="processes for the sweep; default 2")
    parser.add_argument(
        "--repeats", type=int, default=3, help="builds and page loads per measurement; default 3"
    )
    parser.add_argument(
        "--skip-browser", action="store_true", help="do not measure the load time in Chromium"
    )
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    figures: dict[str, object] = {}
    if args.sweep:
        sweep_dir = Path(args.sweep)
    else:
        start = time.perf_counter()
        sweep_dir = make_sweep(work / "sweep", epochs=args.epochs, seeds=args.seeds, processes=args.processes)
        figures["sweep_seconds"] = round(time.perf_counter() - start, 2)
    figures["runs"] = len(load_sweep(sweep_dir).manifest["runs"])

    report_seconds, report = time_build(sweep_dir, charts=True, repeats=args.repeats)
    plain_seconds, plain = time_build(sweep_dir, charts=False, repeats=args.repeats)
    paths = {"report": work / "report.html", "tables only": work / "plain.html"}
    paths["report"].write_text(report, encoding="utf-8")
    paths["tables only"].write_text(plain, encoding="utf-8")
    sizes = {name: path.stat().st_size for name, path in paths.items()}
    figures.update(
        build_seconds=round(report_seconds, 3),
        build_seconds_tables_only=round(plain_seconds, 3),
        html_bytes=sizes["report"],
        html_bytes_tables_only=sizes["tables only"],
    )

    print(
        f"sweep: {figures['runs']} runs"
        + (f" in {figures['sweep_seconds']} s" if "sweep_seconds" in figures else f" ({sweep_dir})")
    )
    print(f"{'':28}{'report':>12}{'tables only':>14}{'ratio':>9}")
    print(
        f"{'build (load + page), s':28}{report_seconds:>12.3f}{plain_seconds:>14.3f}{report_seconds / plain_seconds:>9.1f}"
    )
    print(
        f"{'HTML size, KiB':28}{sizes['report'] / 1024:>12.1f}{sizes['tables only'] / 1024:>14.1f}{sizes['report'] / sizes['tables only']:>9.1f}"
    )
    if not args.skip_browser:
        loads = load_times(paths, repeats=args.repeats)
        figures.update(
            load_seconds=round(loads["report"], 4), load_seconds_tables_only=round(loads["tables only"], 4)
        )
        print(
            f"{'Chromium load, s':28}{loads['report']:>12.3f}{loads['tables only']:>14.3f}{loads['report'] / loads['tables only']:>9.1f}"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"pages kept in {work}")


if __name__ == "__main__":
    main()
