"""Command line of the simulator: run a scenario, calibrate from a log, run a sweep.

python -m simulator run --scenario sybil_attack --policy attribution_bonded --seeds 8 --out var/sim/sybil
python -m simulator calibrate var/feedback_log.jsonl --out var/calibration.json
python -m simulator sweep sweeps/standard.yaml
python -m simulator scenarios
python -m simulator report var/sweeps/standard --out var/reports/standard.html
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  one scenario under one policy, 8 seeds, on 2 processes:
    python -m simulator run --scenario sybil_attack --policy attribution_bonded --seeds 8 --processes 2 --out var/sim/sybil
  the same with contributors calibrated from the site's feedback log, and a policy parameter changed:
    python -m simulator run --scenario baseline --policy attribution_bonded --policy-params '{"fee_multiple_bps": 50000}' \\
        --calibration var/calibration.json --seeds 4 --out var/sim/calibrated
  replay the real contributors of a log, with the sybil attack added on top:
    python -m simulator run --scenario sybil_attack --policy volume --replay var/feedback_log.jsonl --seeds 2 --out var/sim/replay
  fit contributor parameters to a feedback log (writes the fits, the KS checks and the log's sha256):
    python -m simulator calibrate var/feedback_log.jsonl --out var/calibration.json
  every scenario x every policy x seeds, as a config file says (see `sweep --help`):
    python -m simulator sweep simulator/sweeps/standard.yaml
  list the scenarios:
    python -m simulator scenarios
"""

SWEEP_EXAMPLE = """a sweep config (YAML or JSON); every field but `name` is optional:

    name: standard
    scenarios: [baseline, spam_wave, sybil_attack, collusion_ring, label_flipping, demand_shock, price_crash, unlock_cliff]
    policies:                       # names, or variants with parameters
      - volume
      - agreement
      - attribution
      - attribution_bonded
      - {policy: attribution_bonded, label: bonded_5x_fees, params: {fee_multiple_bps: 50000}}
    seeds: 16                       # runs per scenario x policy
    root_seed: 20260101             # every run's seed derives from it (recorded in the manifest)
    engine: vectorized              # or reference (slow; for checks)
    processes: 2                    # local worker processes
    output: var/sweeps/standard     # manifest.json, metrics.parquet, runs.parquet, lorenz.parquet, runs/ (relative to where you run)
    epochs: null                    # override every scenario's length
    calibration: null               # a file written by `python -m simulator calibrate` (relative to the config)
    replay: null                    # a feedback log whose contributors drive the runs (relative to the config)

examples:
    python -m simulator sweep simulator/sweeps/standard.yaml
    python -m simulator sweep simulator/sweeps/standard.yaml --processes 8 --out var/sweeps/today
"""


def _parser() -> argparse.ArgumentParser:
    from simulator.calibration import DEFAULT_TOO_FAST_BPS
    from simulator.model import ENGINES
    from simulator.oracle import SIMULATION_POLICIES as POLICIES
    from simulator.scenarios import scenario_names

    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Agent-based simulation of the OPEN token economy.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run one scenario under one policy for several seeds",
        description="Run one scenario under one emission policy for several seeds; writes a sweep folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--scenario", required=True, help=f"a name ({', '.join(scenario_names())}) or a .yaml/.json file"
    )
    run.add_argument("--policy", required=True, choices=sorted(POLICIES), help="the emission policy")
    run.add_argument(
        "--policy-params",
        default="{}",
        metavar="JSON",
        help="policy parameters as a JSON object (defaults otherwise)",
    )
    run.add_argument("--seeds", type=int, default=4, help="number of seeds (runs); default 4")
    run.add_argument("--root-seed", type=int, default=0, help="root of every run's seed; default 0")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--engine", choices=ENGINES, default="vectorized", help="default vectorized")
    run.add_argument("--epochs", type=int, help="override the scenario's number of epochs")
    run.add_argument("--processes", type=int, default=1, help="local worker processes; default 1")
    run.add_argument(
        "--calibration", help="calibration JSON from `calibrate`, replacing the contributor parameters"
    )
    run.add_argument(
        "--replay", help="feedback log whose contributors drive the run (attackers come from the scenario)"
    )

    calibrate = commands.add_parser(
        "calibrate",
        help="fit contributor parameters to a feedback log",
        description="Fit arrival rate, activity, time per judgment, reliability/quality and flag share to a "
        "feedback log; writes them with the log's sha256 and a KS check per distribution.",
        epilog="examples:\n    python -m simulator calibrate var/feedback_log.jsonl --out var/calibration.json\n"
        "    python -m simulator calibrate log.jsonl --out calibration.json --too-fast-bps 2500",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    calibrate.add_argument("log", help="feedback log (JSON lines, schema feedback_log.v1)")
    calibrate.add_argument("--out", required=True, help="where to write the calibration JSON")
    calibrate.add_argument(
        "--too-fast-bps",
        type=int,
        default=DEFAULT_TOO_FAST_BPS,
        help="a judgment is too fast at or below this share of the log's median time, in basis points: "
        f"the economy's too_fast_bps rule that the site flags by; default {DEFAULT_TOO_FAST_BPS}",
    )
    calibrate.add_argument(
        "--seed", type=int, default=0, help="seed of the simulated goodness-of-fit samples"
    )

    sweep = commands.add_parser(
        "sweep",
        help="run scenarios x policies x seeds from a config file",
        description="Run every scenario under every policy for every seed, in parallel; writes manifest.json, "
        "metrics.parquet, runs.parquet, lorenz.parquet (each run's Lorenz curve of rewards) and one Parquet "
        "file per run.",
        epilog=SWEEP_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("config", help="sweep config, YAML or JSON")
    sweep.add_argument("--processes", type=int, help="override the config's processes")
    sweep.add_argument("--out", help="override the config's output folder")

    report = commands.add_parser(
        "report",
        help="write the HTML report of a sweep folder",
        description="Write a self-contained HTML report (summary, parameters, scenario x metric table with "
        "pass/fail checks, charts, assumptions, limitations, reproducibility) of a sweep folder.",
        epilog="examples:\n    python -m simulator report var/sweeps/standard --out var/reports/standard.html\n"
        "    python -m simulator report var/sweeps/standard --out r.html --pdf r.pdf --thresholds checks.yaml\n"
        "a thresholds file is a list of {metric, operator, value, scenarios: attack|price_crash|all|NAME, label}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("sweep_dir", help="a folder written by `sweep` or `run`")
    report.add_argument("--out", required=True, help="where to write the HTML file")
    report.add_argument("--pdf", help="also write the summary and charts as a PDF here")
    report.add_argument("--thresholds", help="YAML or JSON list of pass/fail thresholds (defaults otherwise)")

    commands.add_parser(
        "scenarios",
        help="list the scenarios",
        description="List the scenarios shipped with the simulator.",
        epilog="example:\n    python -m simulator scenarios",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _summary(output: Path) -> str:
    import pyarrow.parquet as pq

    runs = pq.read_table(output / "runs.parquet").to_pylist()
    lines = [f"{len(runs)} runs -> {output} (manifest.json, metrics.parquet, runs.parquet, lorenz.parquet)"]
    columns = (
        "price",
        "contributors_present",
        "honest_retention",
        "attacker_reward_share",
        "staking_ratio",
        "stake_nakamoto",
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["policy"]), []).append(run)
    lines.append("last epoch, mean over seeds:")
    lines.append("  " + " ".join(f"{name:>22}" for name in ("scenario / policy", *columns)))
    for (scenario, policy), members in groups.items():
        values = []
        for name in columns:
            finite = [
                m[name]
                for m in members
                if m[name] is not None and not (isinstance(m[name], float) and math.isnan(m[name]))
            ]
            values.append(f"{sum(finite) / len(finite):>22.4g}" if finite else f"{'nan':>22}")
        lines.append(f"  {(scenario + ' / ' + policy)[:22]:>22} " + " ".join(values))
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

    try:
        params = json.loads(args.policy_params)
    except ValueError as error:
        print(f"error: --policy-params is not JSON: {error}", file=sys.stderr)
        return 2
    config = SweepConfig(
        name=f"{Path(args.scenario).stem}-{args.policy}",
        scenarios=(args.scenario,),
        policies=(PolicyVariant(args.policy, args.policy, params),),
        seeds=args.seeds,
        root_seed=args.root_seed,
        engine=args.engine,
        processes=args.processes,
        output=args.out,
        epochs=args.epochs,
        calibration=args.calibration,
        replay=args.replay,
    )
    print(_summary(run_sweep(config)))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from simulator.calibration import calibrate, save_calibration

    calibration = calibrate(args.log, too_fast_bps=args.too_fast_bps, seed=args.seed)
    path = save_calibration(calibration, args.out)
    log = calibration["log"]
    print(
        f"{log['file']}: {log['rows']} rows, {log['annotators']} contributors, {log['days']} days; sha256 {log['sha256']}"
    )
    for name, fit in calibration["fits"].items():
        shown = {
            k: v
            for k, v in fit.items()
            if k not in ("method", "alternatives", "ks_statistic", "p_value", "n")
        }
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        print(
            f"  {name:<26} {params:<60} KS {fit.get('ks_statistic', float('nan')):.3f} (p={fit.get('p_value', float('nan')):.3f}, n={fit['n']})"
        )
    print(f"  flagged contributor-days   {calibration['contributors']['flag_probability']:.4f}")
    print(f"-> {path}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import dataclasses

    from simulator.sweep import SweepConfig, run_sweep

    config = SweepConfig.from_file(args.config)
    changes: dict[str, Any] = {}
    if args.processes is not None:
        changes["processes"] = args.processes
    if args.out is not None:
        changes["output"] = args.out
    if changes:
        config = dataclasses.replace(config, **changes)
    print(_summary(run_sweep(config, progress=print)))
    return 0


def _scenarios(_: argparse.Namespace) -> int:
    from simulator.scenarios import load_scenario, scenario_names

    for name in scenario_names():
        scenario = load_scenario(name)
        print(f"{name:<16} {scenario.epochs:>4} epochs  {scenario.description}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from simulator.report import thresholds_from_data, write_report

    thresholds = None
    if args.thresholds is not None:
        import yaml

        from simulator.report import ReportError

        try:
            data = yaml.safe_load(Path(args.thresholds).read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ReportError(f"{args.thresholds}: not YAML or JSON: {error}") from None
        thresholds = thresholds_from_data(data, where=args.thresholds)
    path = write_report(args.sweep_dir, args.out, pdf=args.pdf, thresholds=thresholds)
    print(f"-> {path}" + (f" and {args.pdf}" if args.pdf else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from simulator.calibration import CalibrationError
    from simulator.feedback_log import FeedbackLogError
    from simulator.params import ScenarioError
    from simulator.report import ReportError
    from simulator.sweep import SweepError

    args = _parser().parse_args(argv)
    handlers = {
        "run": _run,
        "calibrate": _calibrate,
        "sweep": _sweep,
        "scenarios": _scenarios,
        "report": _report,
    }
    try:
        return handlers[args.command](args)
    except (ScenarioError, SweepError, CalibrationError, FeedbackLogError, ReportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
