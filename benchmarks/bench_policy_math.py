"""How long the economy's math takes for one epoch with a million contributors.

    python benchmarks/bench_policy_math.py                      # 1,000,000 contributors, median of 5 runs
    python benchmarks/bench_policy_math.py --contributors 200000 --runs 3

Times, for one epoch: each emission policy (run_policy on prepared EpochInputs; building and
validating the inputs is not counted) and the Merkle root over the payouts. Targets: under 2 s for
each policy, under 5 s for the Merkle root (two million sha256 calls and a sort of the accounts).

Baselines, measured in the same run so the ratio holds on any machine: the obvious
per-contributor Python loop (largest_remainder_split_reference: Fractions, one full sort) and a
per-leaf leaf_hash call, each on --baseline-contributors accounts and scaled linearly to the
full size. The ratio says how many times faster the real code is than that loop would be.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from simulator.economy.epoch import EpochInputs
from simulator.economy.merkle import leaf_hash, merkle_root, payouts_root
from simulator.economy.policies import POLICIES, VolumeParams, run_policy
from simulator.economy.schedule import ScheduleParams, emission_for_epoch
from simulator.economy.units import largest_remainder_split_reference
from simulator.economy.weights import attribution_weights

POLICY_TARGET_SECONDS = 2.0
MERKLE_TARGET_SECONDS = 5.0  # "a few seconds" for a million leaves: sha256 per leaf and node is the floor


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_inputs(contributors: int, seed: int) -> EpochInputs:
    """A realistic-looking epoch: skewed judgment counts, 30% harmful attribution, 10% of
    accounts in identity rings of five, 0.1% flagged."""
    rng = np.random.default_rng(seed)
    accounts = [f"acct-{i:07d}" for i in rng.permutation(contributors).tolist()]
    ring_members = accounts[: contributors // 10]
    return EpochInputs(
        budget=emission_for_epoch(ScheduleParams(), 0),
        fees_collected=10**23,
        epoch=0,
        judgment_counts=dict(zip(accounts, rng.poisson(20, contributors).tolist(), strict=True)),
        agreement_rates=dict(zip(accounts, rng.beta(8, 2, contributors).tolist(), strict=True)),
        attribution_scores=dict(zip(accounts, rng.normal(0.5, 1.0, contributors).tolist(), strict=True)),
        bonds={
            account: whole_open * 10**18
            for account, whole_open in zip(
                accounts, rng.integers(0, 10_000, contributors).tolist(), strict=True
            )
        },
        flagged=frozenset(accounts[-(contributors // 1000) :]),
        clusters={account: f"ring-{i // 5}" for i, account in enumerate(ring_members)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contributors", type=int, default=1_000_000, help="contributors in the epoch")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument(
        "--baseline-contributors", type=int, default=100_000, help="size the baseline loops run at"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    inputs = epoch_inputs(args.contributors, args.seed)
    scale = args.contributors / args.baseline_contributors
    print(
        f"{args.contributors:,} contributors, median of {args.runs} runs, policy target < {POLICY_TARGET_SECONDS} s"
    )

    # Baseline: the plain per-contributor loop, on fewer accounts, scaled linearly.
    scores = inputs.attribution_scores
    sample = list(scores)[: args.baseline_contributors]
    sample_weights = dict(zip(sample, attribution_weights([scores[a] for a in sample]).tolist(), strict=True))
    baseline_split = scale * median_seconds(
        lambda: largest_remainder_split_reference(inputs.budget, sample_weights), args.runs
    )
    print(
        f"{'baseline: per-contributor split loop':<44} {baseline_split:8.3f} s  (measured on {len(sample):,}, scaled)"
    )

    rows = []
    for name, spec in POLICIES.items():
        params = spec.params_type()
        seconds = median_seconds(lambda params=params: run_policy(params, inputs), args.runs)
        rows.append((f"policy {name}", seconds, baseline_split, POLICY_TARGET_SECONDS))

    # The Merkle root over a full epoch of payouts, one per contributor.
    volume = run_policy(VolumeParams(), inputs).payouts
    payouts = {account: volume.get(account, 1) for account in inputs.judgment_counts}
    merkle_seconds = median_seconds(lambda: payouts_root(0, payouts), args.runs)
    leaf_sample = list(payouts)[: args.baseline_contributors]
    baseline_merkle = scale * median_seconds(
        lambda: merkle_root([leaf_hash(0, account, payouts[account]) for account in sorted(leaf_sample)]),
        args.runs,
    )
    print(
        f"{'baseline: per-leaf hashing, then the tree':<44} {baseline_merkle:8.3f} s  (measured on {len(leaf_sample):,}, scaled)"
    )
    rows.append(
        (f"merkle root over {len(payouts):,} payouts", merkle_seconds, baseline_merkle, MERKLE_TARGET_SECONDS)
    )

    print()
    print(f"{'measurement':<44} {'median':>8}   {'vs baseline':>11}   target")
    for label, seconds, baseline, target in rows:
        verdict = f"< {target} s ok" if seconds < target else f"SLOW (target {target} s)"
        print(f"{label:<44} {seconds:8.3f} s {baseline / seconds:10.1f}x   {verdict}")


if __name__ == "__main__":
    main()
