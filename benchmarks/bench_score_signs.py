"""How many honest contributors score below zero in an epoch, under the shipped attribution profile.

    .venv/bin/python benchmarks/bench_score_signs.py                       # baseline scenario, 60 epochs, 3 seeds
    .venv/bin/python benchmarks/bench_score_signs.py --scenario spam_wave --epochs 90 --seeds 5

Why it matters: settlement (simulator.settlement) passes contributors with a negative score outside the
policy, since they are paid nothing and only slashed; the larger that share, the more that shortcut saves.
The figure is read from the vectorized model itself: every epoch's scores, as the model draws them, are
recorded, and the share of active honest contributors below zero is reported as the median over epochs and
seeds with its p5-p95 band.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def negative_shares(scenario_name: str, epochs: int, seeds: int) -> list[float]:
    import simulator.populations as populations
    from simulator.attribution_model import Kind
    from simulator.economy.policies import policy_from_dict
    from simulator.model import make_model
    from simulator.scenarios import load_scenario

    shares: list[float] = []
    draw = populations.scores

    def recorded(kind, count, correct, duplicates, noise, figures):  # the model's own draw, observed
        result = draw(kind, count, correct, duplicates, noise, figures)
        honest = np.asarray(kind) == Kind.HONEST
        if honest.any():
            shares.append(float((result[honest] < 0).mean()))
        return result

    populations.scores = recorded
    try:
        scenario = load_scenario(scenario_name).with_changes(epochs=epochs)
        for seed in range(seeds):
            make_model("vectorized", scenario, policy_from_dict("attribution", {}), seed=seed).run()
    finally:
        populations.scores = draw
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    shares = negative_shares(args.scenario, args.epochs, args.seeds)
    summary = {"scenario": args.scenario, "epochs_observed": len(shares),
               "median": float(np.median(shares)), "p5": float(np.percentile(shares, 5)),
               "p95": float(np.percentile(shares, 95))}
    print(f"{args.scenario}: share of active honest contributors scoring below zero, median {summary['median']:.3f} "
          f"(p5-p95 {summary['p5']:.3f}-{summary['p95']:.3f}) over {len(shares)} epochs")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
