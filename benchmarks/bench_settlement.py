"""Epoch settlement with a million contributors, and verify_ledger over ten million entries.

    .venv/bin/python benchmarks/bench_settlement.py --policy-only          # no database needed
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/bench_settlement.py                    # 1,000,000 contributors, 10,000,000 entries
    DATABASE_URL=... .venv/bin/python benchmarks/bench_settlement.py --contributors 100000 --entries 1000000

The end-to-end parts need PostgreSQL: the benchmark creates a database of its own on the server
of DATABASE_URL (``<name>_bench_settlement``), and drops it at the end unless --keep.

Measured, each in a fresh child process so that its peak RSS is its own:
1. policy math: ``run_policy`` of the site's default policy (``attribution``), of
   ``attribution_bonded`` and of ``attribution_evidence`` (every contributor new: no standing yet,
   per-contributor figures kept for the earnings page) on prepared EpochInputs (the inputs of bench_policy_math.py).
   Baseline: one Python pass summing the scores. Target: under 2 s.
2. settlement end to end, ``epoch_settle``: epoch 0 (first epoch: a wallet is created for every
   contributor) and epoch 1 (steady state, plus fees from one model split among everyone and
   1,000 stakers), reading attribution, stakes and fees, running the policy, hashing the chain,
   computing the Merkle root and writing every entry by COPY, in one transaction.
   Baseline: a raw COPY of the same entry rows into a table with the same indexes (the write
   alone). Target: under 60 s.
3. ``verify_ledger`` over --entries entries: the ledger is extended with generated epochs (an
   equal split to every wallet, a valid chain computed in Python while streaming rows to COPY,
   a correct root and settlement row per epoch). Timed with and without the root checks.
   Baselines: ``SELECT count(*)``, and a streaming scan of the same rows through the same
   server-side cursor with no checks (the read floor). Target: under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

POLICY_TARGET_SECONDS = 2.0
SETTLEMENT_TARGET_SECONDS = 60.0
VERIFY_TARGET_SECONDS = 60.0
STAKERS = 1_000
FEE_MODEL = "bench-model-v1"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


# --- 1. policy math -----------------------------------------------------------------------------


def child_policy(contributors: int, runs: int) -> None:
    from bench_policy_math import epoch_inputs

    from simulator.economy.policies import policy_from_dict, run_policy

    inputs = epoch_inputs(contributors, seed=0)
    results = {}
    for name in ("attribution", "attribution_bonded", "attribution_evidence"):
        params = policy_from_dict(name, {})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = run_policy(params, inputs)
            times.append(time.perf_counter() - start)
        results[name] = {"seconds": statistics.median(times), "paid": len(result.payouts)}
    start = time.perf_counter()
    sum(inputs.attribution_scores.values())
    results["baseline_sum_scores"] = {"seconds": time.perf_counter() - start}
    emit({"policy": results, "peak_rss_mb": peak_rss_mb()})


# --- database set-up ------------------------------------------------------------------------------


def bench_database_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_bench_settlement"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return admin, urlunsplit(parts._replace(path="/" + name))


def recreate_database(admin_url: str, bench_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    name = urlsplit(bench_url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup() -> None:
    from _django import setup

    setup("feedback_site.settings.local")


def build(contributors: int) -> None:
    """Users, contributors and two epochs of attribution, in SQL (the set-up is not measured)."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from feedback_site.accounts.models import Contributor
    from feedback_site.annotation.models import Datanet
    from feedback_site.ledger import services
    from feedback_site.ledger.models import EpochAttribution, EpochInputSet, EpochQuality, InputSource
    from feedback_site.quality.models import QualityReport

    call_command("migrate", verbosity=0)
    users, people, attributions, qualities = (
        connection.ops.quote_name(m._meta.db_table) for m in (get_user_model(), Contributor, EpochAttribution, EpochQuality)
    )
    # The quality sets the epochs' flags and agreement belong to (the attribution rows, inserted in
    # bulk below, are of no recorded model version: allowed for rows written before versions were kept).
    datanet = Datanet.objects.create(name="bench", slug="bench")
    report = QualityReport.objects.create(datanet=datanet, cutoff_judgment_id=0, judgments=0, seed=0, report={}, seconds=0)
    quality_sets = {
        epoch: EpochInputSet.objects.create(epoch=epoch, source=InputSource.QUALITY, quality_report=report, datanet=datanet, rows=contributors).id
        for epoch in (0, 1)
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            f"INSERT INTO {users} (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) "
            "SELECT '!', false, 'bench-' || i, '', '', '', false, true, now() FROM generate_series(1, %s) AS i",
            [contributors],
        )
        cursor.execute(
            f"INSERT INTO {people} (user_id, pseudonym, created_at) "
            f"SELECT id, 'c_' || lpad(to_hex(id), 12, '0'), now() FROM {users} WHERE username LIKE 'bench-%%'"
        )
        for epoch in (0, 1):
            # Skewed scores, 30% harmful, 0.1% flagged: like bench_policy_math's epochs.
            cursor.execute(
                f"INSERT INTO {attributions} (epoch, contributor_id, score, judgments, source_run_id, created_at) "
                "SELECT %s, id, (random() - 0.3) * 2, 1 + (random() * 40)::int, 'bench', now() "
                f"FROM {people}",
                [epoch],
            )
            cursor.execute(
                f"INSERT INTO {qualities} (epoch, contributor_id, datanet_id, flagged, agreement, flags, judgments, input_set_id, created_at) "
                "SELECT %s, id, %s, flagged, random(), CASE WHEN flagged THEN '[\"too_fast\"]' ELSE '[]' END::jsonb, 0, %s, now() "
                f"FROM (SELECT id, random() < 0.001 AS flagged FROM {people}) AS drawn",
                [epoch, datanet.id, quality_sets[epoch]],
            )
        cursor.execute("ANALYZE")
    print(f"  {contributors:,} contributors with attribution for epochs 0 and 1 in {time.perf_counter() - started:.1f} s", flush=True)
    services.ledger_genesis()


def prepare_epoch_1() -> None:
    """Stakers, a registered model and a consumer whose fee epoch 1 splits among everyone."""
    django_setup()
    from feedback_site.accounts.models import Contributor
    from feedback_site.accounts.services import user_create
    from feedback_site.ledger import selectors, services
    from simulator.economy.units import BASE_UNITS_PER_OPEN

    for contributor in Contributor.objects.order_by("id")[:STAKERS]:
        wallet = selectors.wallet_for(contributor=contributor)
        balance = selectors.account_balance(account=wallet)
        if balance:
            services.stake_add(contributor=contributor, amount=balance // 2)
    owner = user_create(username="bench-owner", password=None)
    buyer = user_create(username="bench-buyer", password=None)
    services.model_register(model_id=FEE_MODEL, owner=owner)
    consumer = services.consumer_account_open(user=buyer)
    services.ledger_transfer(
        source_key="allocation:liquidity", destination_key=consumer.key, amount=10_000 * BASE_UNITS_PER_OPEN
    )
    services.fee_record(user=buyer, request_id="bench-1", model_id=FEE_MODEL, calls=1000, fee=5_000 * BASE_UNITS_PER_OPEN)


# --- 2. settlement ----------------------------------------------------------------------------------


def child_settle(epoch: int) -> None:
    django_setup()
    from feedback_site.ledger.settlement import epoch_settle

    start = time.perf_counter()
    settlement = epoch_settle(epoch=epoch)
    seconds = time.perf_counter() - start
    emit(
        {
            "seconds": seconds,
            "entries": settlement.last_entry_id - settlement.first_entry_id + 1,
            "first_entry_id": settlement.first_entry_id,
            "last_entry_id": settlement.last_entry_id,
            "payouts": settlement.payout_count,
            "slashed": settlement.slashed,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def child_copy_baseline(first_id: int, last_id: int) -> None:
    """COPY the same entry rows into a scratch table with the same indexes: the write floor."""
    django_setup()
    from django.db import connection, transaction

    from feedback_site.ledger.models import LedgerEntry

    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    columns = "id, kind, debit_id, credit_id, amount, epoch, created_us, memo, entry_hash"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE id BETWEEN %s AND %s ORDER BY id", [first_id, last_id])
        rows = [(*row[:4], int(row[4]), *row[5:]) for row in cursor.fetchall()]
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute(f"CREATE TABLE bench_copy (LIKE {table} INCLUDING INDEXES)")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    seconds = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")
    emit({"seconds": seconds, "rows": len(rows), "peak_rss_mb": peak_rss_mb()})


# --- 3. verification ----------------------------------------------------------------------------


def epoch_rows(first, kinds, pool, rewards, wallets, emission, each, epoch, created_us, record) -> list[tuple]:
    """A generated epoch's entries (without hashes): emission, one payout per wallet, the record."""
    emission_kind, payout_kind, record_kind = kinds
    rows = [(first, emission_kind, pool, rewards, emission, epoch, created_us, "")]
    rows += [
        (entry_id, payout_kind, rewards, wallet_id, each, epoch, created_us, "")
        for entry_id, (wallet_id, _) in enumerate(wallets, start=first + 1)
    ]
    rows.append((first + len(wallets) + 1, record_kind, None, None, 0, epoch, created_us, record))
    return rows


def extend_ledger(total_entries: int) -> None:
    """Append generated epochs (equal split to every wallet) until the ledger has
    ``total_entries`` entries, with a valid chain, root and settlement row for each."""
    django_setup()
    from django.db import connection, transaction

    from feedback_site.ledger import selectors
    from feedback_site.ledger.chain import canonical_memo, chain_hashes
    from feedback_site.ledger.models import (
        AccountKind,
        EntryKind,
        EpochSettlement,
        LedgerAccount,
        LedgerEntry,
    )
    from feedback_site.ledger.services import head_lock
    from simulator.economy.merkle import payouts_root
    from simulator.economy.schedule import emission_for_epoch

    wallets = list(LedgerAccount.objects.filter(kind=AccountKind.CONTRIBUTOR).order_by("key").values_list("id", "key"))
    pool = selectors.account_by_key(key=selectors.COMMUNITY_POOL).id
    rewards = selectors.account_by_key(key=selectors.EPOCH_REWARDS)
    schedule = selectors.genesis_schedule()
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    columns = "id, kind, debit_id, credit_id, amount, epoch, created_us, memo, entry_hash"
    params = {"benchmark": "equal split"}
    started = time.perf_counter()
    while True:
        with transaction.atomic():
            head = head_lock()
            remaining = total_entries - head.last_entry_id
            if remaining < 3:
                break
            epoch = selectors.epoch_next()
            paid_wallets = wallets[: remaining - 2]
            emission = emission_for_epoch(schedule, epoch)
            carried_in = EpochSettlement.objects.get(epoch=epoch - 1).carry_over
            budget = emission + carried_in
            each = budget // len(paid_wallets)
            payouts = {key: each for _, key in paid_wallets}
            totals = {
                "emission": emission, "carried_in": carried_in, "budget": budget, "paid": each * len(paid_wallets),
                "carry_over": budget - each * len(paid_wallets), "slashed": 0, "fees_collected": 0,
            }
            root = payouts_root(epoch, payouts)
            created_us = head.last_created_us + 1
            first = head.last_entry_id + 1
            record = canonical_memo(
                {"payouts_root": root, "payout_count": len(paid_wallets), "policy": "benchmark", "params": params,
                 **{name: str(value) for name, value in totals.items()}}
            )

            kinds = (EntryKind.EMISSION.value, EntryKind.PAYOUT.value, EntryKind.EPOCH_SETTLED.value)
            generated = epoch_rows(first, kinds, pool, rewards.id, paid_wallets, emission, each, epoch, created_us, record)
            last_hash = None
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row, digest in zip(generated, chain_hashes(bytes.fromhex(head.last_hash), generated), strict=True):
                    last_hash = digest.hex()
                    copy.write_row((*row, last_hash))
            last_id = first + len(generated) - 1
            EpochSettlement.objects.create(
                epoch=epoch, policy_name="benchmark", policy_params=params, contributors=len(paid_wallets),
                payout_count=len(paid_wallets), payouts_root=root, explanation={}, first_entry_id=first,
                last_entry_id=last_id, **totals,
            )
            head.last_entry_id, head.last_hash, head.last_created_us = last_id, last_hash, created_us
            head.save()
        print(f"  generated epoch {epoch}: ledger at {last_id:,} entries, {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")


def child_verify(mode: str) -> None:
    django_setup()
    from django.db import connection, transaction

    from feedback_site.ledger.models import LedgerEntry, LedgerHead
    from feedback_site.ledger.verification import entry_lines, ledger_verify

    start = time.perf_counter()
    if mode == "count":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(LedgerEntry._meta.db_table)}")
            entries = cursor.fetchone()[0]
        result = {"entries": entries}
    elif mode == "scan":
        entries = 0
        with transaction.atomic():
            for _ in entry_lines(LedgerHead.objects.get().last_entry_id):
                entries += 1
        result = {"entries": entries}
    else:
        report = ledger_verify(check_roots=mode == "full")
        assert report.ok, [str(p) for p in report.problems[:5]]
        result = {"entries": report.entries, "epochs": report.epochs, "accounts": report.accounts}
    emit({**result, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()})


# --- driver -------------------------------------------------------------------------------------------


def run_child(*args: str, env: dict | None = None) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env or os.environ.copy(), capture_output=True, text=True
    )
    if process.returncode:
        sys.stderr.write(process.stdout + process.stderr)
        raise SystemExit(f"child {args} failed")
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1].removeprefix("RESULT "))


def verdict(seconds: float, target: float) -> str:
    return "met" if seconds < target else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contributors", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000, help="ledger size for the verification")
    parser.add_argument("--runs", type=int, default=3, help="runs of the policy math (median)")
    parser.add_argument("--policy-only", action="store_true", help="only the policy math (no database)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        task, *rest = args.child
        {
            "policy": lambda: child_policy(int(rest[0]), int(rest[1])),
            "build": lambda: build(int(rest[0])),
            "prepare": prepare_epoch_1,
            "settle": lambda: child_settle(int(rest[0])),
            "copy": lambda: child_copy_baseline(int(rest[0]), int(rest[1])),
            "extend": lambda: extend_ledger(int(rest[0])),
            "verify": lambda: child_verify(rest[0]),
        }[task]()
        return

    n = args.contributors
    print(f"Policy math, {n:,} contributors, median of {args.runs} runs ...", flush=True)
    policy = run_child("policy", str(n), str(args.runs))["policy"]
    baseline = policy["baseline_sum_scores"]["seconds"]
    for name in ("attribution", "attribution_bonded", "attribution_evidence"):
        seconds = policy[name]["seconds"]
        print(
            f"  run_policy {name:<19s} {seconds:6.2f} s  ({seconds / baseline:5.1f}x one pass summing the scores, "
            f"{baseline:.3f} s); target < {POLICY_TARGET_SECONDS:.0f} s: {verdict(seconds, POLICY_TARGET_SECONDS)}"
        )
    url = os.environ.get("DATABASE_URL", "")
    if args.policy_only or not url.startswith(("postgres://", "postgresql://")):
        if not args.policy_only:
            print("Settlement and verification need PostgreSQL: set DATABASE_URL=postgres://... to run them.")
        return

    admin_url, bench_url = bench_database_url(url)
    env = dict(os.environ, DATABASE_URL=bench_url)
    print(f"Building a throwaway database {urlsplit(bench_url).path.lstrip('/')} ...", flush=True)
    recreate_database(admin_url, bench_url)
    try:
        subprocess.run([sys.executable, __file__, "--child", "build", str(n)], env=env, check=True)
        first = run_child("settle", "0", env=env)
        subprocess.run([sys.executable, __file__, "--child", "prepare"], env=env, check=True)
        steady = run_child("settle", "1", env=env)
        copy = run_child("copy", str(steady["first_entry_id"]), str(steady["last_entry_id"]), env=env)
        print(f"\nSettlement end to end on PostgreSQL, {n:,} contributors (one transaction each)")
        for label, result in (("epoch 0 (creates the wallets)", first), ("epoch 1 (fees, stakes)", steady)):
            print(
                f"  {label:<30s} {result['seconds']:6.1f} s, {result['entries']:,} entries, "
                f"{result['payouts']:,} payouts, peak RSS {result['peak_rss_mb']:.0f} MB; "
                f"target < {SETTLEMENT_TARGET_SECONDS:.0f} s: {verdict(result['seconds'], SETTLEMENT_TARGET_SECONDS)}"
            )
        print(
            f"  baseline: raw COPY of epoch 1's {copy['rows']:,} entry rows into a table with the same indexes: "
            f"{copy['seconds']:.1f} s; settlement / COPY = {steady['seconds'] / copy['seconds']:.1f}x"
        )

        print(f"\nExtending the ledger to {args.entries:,} entries ...", flush=True)
        subprocess.run([sys.executable, __file__, "--child", "extend", str(args.entries)], env=env, check=True)
        count = run_child("verify", "count", env=env)
        scan = run_child("verify", "scan", env=env)
        chain = run_child("verify", "chain", env=env)
        full = run_child("verify", "full", env=env)
        print(f"\nverify_ledger over {full['entries']:,} entries, {full['epochs']} epochs, {full['accounts']:,} accounts")
        for label, result in (("full (chain, roots, conservation)", full), ("chain and conservation only", chain)):
            print(
                f"  {label:<34s} {result['seconds']:6.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB; "
                f"{result['seconds'] / scan['seconds']:.1f}x the plain scan; "
                f"target < {VERIFY_TARGET_SECONDS:.0f} s: {verdict(result['seconds'], VERIFY_TARGET_SECONDS)}"
            )
        print(
            f"  baselines: SELECT count(*) {count['seconds']:.1f} s; streaming scan of the same rows, no checks, "
            f"{scan['seconds']:.1f} s (peak RSS {scan['peak_rss_mb']:.0f} MB)"
        )
    finally:
        if not args.keep:
            recreate_database(admin_url, bench_url, drop_only=True)


if __name__ == "__main__":
    main()
