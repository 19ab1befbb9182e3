"""Command line of the OPEN economy: check a payout proof, print the emission schedule.

    python -m simulator.economy verify-proof proof.json --root 3f2a...   # exit 0 if OK, 1 if not
    python -m simulator.economy schedule
    python -m simulator.economy proof payouts.json --epoch 7 --account alice > proof.json
    python -m simulator.economy root payouts.json --epoch 7

``payouts.json`` is a JSON object of account id to amount in base units (an integer or a string
of digits).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from simulator.economy.merkle import PayoutTree, load_proof, payouts_root, proof_problem
from simulator.economy.schedule import (
    Allocation,
    ScheduleParams,
    allocation_amounts,
    emission_for_epoch,
    schedule_by_month,
)
from simulator.economy.units import BASE_UNITS_PER_OPEN, base_units_to_open

EXAMPLES = """examples:
  check the proof a server gave you against the root published for that epoch:
    python -m simulator.economy verify-proof proof.json --root 9c1e...d4
  print the emission and unlock schedule:
    python -m simulator.economy schedule
  make a proof, or a root, from an epoch's payouts (JSON object: account -> base units):
    python -m simulator.economy proof payouts.json --epoch 7 --account alice > proof.json
    python -m simulator.economy root payouts.json --epoch 7
"""


def _open_text(base_units: int) -> str:
    """Whole OPEN with thousands separators, the exact fraction kept if there is one."""
    whole, _, fraction = base_units_to_open(base_units).partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def _verify_proof(args: argparse.Namespace) -> int:
    try:
        proof = load_proof(args.proof)
    except (OSError, ValueError) as error:
        print(f"FAILED: cannot read {args.proof}: {error}")
        return 1
    problem = proof_problem(proof, expected_root=args.root)
    if problem is not None:
        print(f"FAILED: {args.proof}: {problem}")
        return 1
    amount = int(proof["amount"])
    checked_against = (
        "the expected root"
        if args.root
        else "the root in the proof (give --root to check it is the published one)"
    )
    print(
        f"OK: account {proof['account']!r} was paid {amount} base units ({_open_text(amount)} OPEN) "
        f"in epoch {proof['epoch']}; leaf {proof['leaf_index']} of {proof['leaf_count']} leads to "
        f"{checked_against}, {proof['root']}"
    )
    return 0


def _print_schedule(args: argparse.Namespace) -> int:
    params = ScheduleParams(epochs_per_month=args.epochs_per_month)
    amounts = allocation_amounts(params)
    print(
        f"Supply: {_open_text(params.total_supply)} OPEN, fixed at genesis (1 OPEN = {BASE_UNITS_PER_OPEN} base units)"
    )
    for allocation in Allocation:
        bps = getattr(params, f"{allocation}_bps")
        print(f"  {allocation:<10} {bps / 100:6.2f}%  {_open_text(amounts[allocation]):>17} OPEN")
    print(
        f"Community emission: {params.community_release_months} months of {params.epochs_per_month} epochs; "
        f"epoch 0 emits {_open_text(emission_for_epoch(params, 0))} OPEN"
    )
    print(
        f"Team and investors: {params.cliff_months}-month cliff, then linear over {params.vesting_months} months; "
        "liquidity unlocked at genesis"
    )
    header = (
        f"{'month':>5} {'emitted this month':>20} "
        + " ".join(f"{a:>15}" for a in Allocation)
        + f" {'circulating':>15}"
    )
    print("\nCumulative unlocked at the end of each month, whole OPEN:")
    print(header)
    for row in schedule_by_month(params):
        cells = " ".join(f"{row.unlocked[a] // BASE_UNITS_PER_OPEN:>15,}" for a in Allocation)
        print(
            f"{row.month:>5} {row.emission // BASE_UNITS_PER_OPEN:>20,} {cells} {row.circulating // BASE_UNITS_PER_OPEN:>15,}"
        )
    return 0


def _load_payouts(path: str) -> dict[str, int]:
    with open(path, encoding="utf-8") as handle:
        data: Any = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of account id to amount")
    payouts = {}
    for account, amount in data.items():
        if isinstance(amount, str) and amount.isascii() and amount.isdigit():
            amount = int(amount)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(
                f"{path}: amount of {account!r} must be an integer of base units, got {amount!r}"
            )
        payouts[account] = amount
    return payouts


def _make_proof(args: argparse.Namespace) -> int:
    tree = PayoutTree(args.epoch, _load_payouts(args.payouts))
    json.dump(tree.proof(args.account), sys.stdout, indent=2)
    print()
    return 0


def _print_root(args: argparse.Namespace) -> int:
    print(payouts_root(args.epoch, _load_payouts(args.payouts)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.economy",
        description="The OPEN token economy: verify payout proofs, show the emission schedule.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = commands.add_parser(
        "verify-proof",
        help="check a payout proof (exit 0 if it holds, 1 if not)",
        description="Recompute the leaf from (epoch, account, amount) and hash up to the root, trusting no server.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "proof", metavar="PROOF.json", help="proof file, as served by the site or written by 'proof'"
    )
    verify.add_argument(
        "--root",
        metavar="HEX",
        help="the epoch's published Merkle root; without it only the proof's own root is checked",
    )
    verify.set_defaults(run=_verify_proof)

    schedule = commands.add_parser("schedule", help="print the allocation, emission and unlock schedule")
    schedule.add_argument(
        "--epochs-per-month",
        type=int,
        default=ScheduleParams().epochs_per_month,
        help="epochs in a month (default: 30 daily epochs)",
    )
    schedule.set_defaults(run=_print_schedule)

    proof = commands.add_parser("proof", help="write the proof of one account's payout as JSON on stdout")
    proof.add_argument("payouts", metavar="PAYOUTS.json", help="JSON object: account id -> base units")
    proof.add_argument("--epoch", type=int, required=True, help="epoch of these payouts")
    proof.add_argument("--account", required=True, help="account to prove")
    proof.set_defaults(run=_make_proof)

    root = commands.add_parser("root", help="print the Merkle root of an epoch's payouts")
    root.add_argument("payouts", metavar="PAYOUTS.json", help="JSON object: account id -> base units")
    root.add_argument("--epoch", type=int, required=True, help="epoch of these payouts")
    root.set_defaults(run=_print_root)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (OSError, ValueError, TypeError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
