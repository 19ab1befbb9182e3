"""Does money follow value? Every scenario under every policy, against the oracle, and the
governance report built from the same sweep.

    python benchmarks/bench_fair_pay.py                                  # 8 scenarios x 6 policies x 5 seeds
    python benchmarks/bench_fair_pay.py --seeds 8 --processes 2 --out var/bench_fair_pay
    python benchmarks/bench_fair_pay.py --policies attribution attribution_evidence oracle --scenarios spam_wave

One sweep (simulator.sweep.run_sweep; full scenario sizes and lengths, the vectorized engine),
then, per scenario and policy, the median [p5, p95] over seeds of:
- attackers' share of rewards over the attack period (from the first attack or shock to the end;
  the whole run for the baseline), target <= 5% under the new policy in every scenario;
- honest contributors' pay against the oracle's pay of the same accounts: Spearman rank
  correlation of per-account totals (target >= 0.9) and total as a ratio (target >= 0.9);
- the community allocation released but carried over unpaid at the end (share of the allocation);
- a new honest contributor's wait for a first payout (median days, among those paid) and the
  share of newcomers not paid within 90 days: the price of requiring evidence.
The baseline each figure is compared against is the current policy (``attribution``), measured
in the same sweep with the same seeds (common random numbers): the ratio of attackers' shares.
The governance report (HTML, the same numbers, the oracle drawn on every chart) is written to
``<out>/report.html`` from the same sweep folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from simulator.oracle import SIMULATION_POLICIES
from simulator.report import analyse, load_sweep, write_report
from simulator.scenarios import STANDARD_SCENARIOS
from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

NEW_POLICY = "attribution_evidence"
CURRENT_POLICY = "attribution"
FIGURES = (
    ("attacker_reward_share", "attack share", "{:.1%}"),
    ("honest_rank_correlation", "rho vs fair", "{:.3f}"),
    ("honest_pay_ratio", "pay/fair", "{:.3f}"),
    ("carried_over_share", "carried", "{:.2%}"),
    ("first_payout_days_median", "1st pay d", "{:.0f}"),
    ("newcomers_never_paid", "never paid", "{:.0%}"),
)
TARGETS = {
    "attacker_reward_share": ("<=", 0.05),
    "honest_rank_correlation": (">=", 0.9),
    "honest_pay_ratio": (">=", 0.9),
}


def _cell(spread: Any, form: str) -> str:
    return f"{form.format(spread.median)} [{form.format(spread.p5)}, {form.format(spread.p95)}]"


def _meets(metric: str, value: float) -> bool:
    operator, target = TARGETS[metric]
    return value <= target if operator == "<=" else value >= target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", nargs="+", default=list(STANDARD_SCENARIOS))
    parser.add_argument(
        "--policies", nargs="+", default=list(SIMULATION_POLICIES), choices=sorted(SIMULATION_POLICIES)
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per scenario and policy (default 5)")
    parser.add_argument("--root-seed", type=int, default=20261205)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--epochs", type=int, default=None, help="shorten every scenario (default: its own length)"
    )
    parser.add_argument(
        "--out", default="var/bench_fair_pay", help="sweep folder; report.html is written in it"
    )
    parser.add_argument("--json", help="also write the figures as JSON here")
    args = parser.parse_args()

    config = SweepConfig(
        name="bench-fair-pay",
        scenarios=tuple(args.scenarios),
        policies=tuple(PolicyVariant(name, name) for name in args.policies),
        seeds=args.seeds,
        root_seed=args.root_seed,
        processes=args.processes,
        output=args.out,
        epochs=args.epochs,
    )
    started = time.perf_counter()
    folder = run_sweep(config)
    sweep_seconds = time.perf_counter() - started
    sweep = load_sweep(folder)
    analysis = analyse(sweep)
    report = write_report(folder, Path(folder) / "report.html")

    runs = len(sweep.manifest["runs"])
    print(
        f"sweep: {runs} runs ({len(args.scenarios)} scenarios x {len(args.policies)} policies x {args.seeds} seeds) "
        f"in {sweep_seconds:.0f} s on {args.processes} processes; root seed {args.root_seed}"
    )
    print("each cell: median [p5, p95] over seeds\n")
    header = f"{'scenario':15s} {'policy':21s} " + " ".join(f"{title:>24s}" for _, title, _ in FIGURES)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in sweep.scenarios:
        print(header)
        for policy in sweep.policies:
            spreads = analysis.summaries[scenario, policy]
            print(
                f"{scenario:15s} {policy:21s} "
                + " ".join(f"{_cell(spreads[m], form):>24s}" for m, _, form in FIGURES)
            )
            figures.setdefault(scenario, {})[policy] = {
                m: {"median": spreads[m].median, "p5": spreads[m].p5, "p95": spreads[m].p95}
                for m, _, _ in FIGURES
            }
        print()

    if NEW_POLICY in sweep.policies:
        print(f"{NEW_POLICY} against its targets, and against {CURRENT_POLICY} (same sweep, same seeds):")
        for scenario in sweep.scenarios:
            new = analysis.summaries[scenario, NEW_POLICY]
            verdicts = [
                f"{metric} {new[metric].median:.3g} {'met' if _meets(metric, new[metric].median) else 'NOT met'}"
                for metric in TARGETS
            ]
            line = f"  {scenario:15s} " + "; ".join(verdicts)
            if CURRENT_POLICY in sweep.policies:
                old = analysis.summaries[scenario, CURRENT_POLICY]["attacker_reward_share"].median
                if old > 0:
                    line += f"; attack share {new['attacker_reward_share'].median / old:.2f}x of {CURRENT_POLICY}'s"
            print(line)
    print(f"\ngovernance report (same sweep): {report}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"runs": runs, "seeds": args.seeds, "root_seed": args.root_seed, "figures": figures}, indent=2
            )
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
