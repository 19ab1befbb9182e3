"""Export of a snapshot with 1,000,000 judgments to TRL JSONL, and the freezing of one: time and peak memory.

    .venv/bin/python benchmarks/bench_export.py [--judgments 1000000] [--runs 3] [--aggregation majority]

Builds a throwaway database (SQLite in a temp folder, or the PostgreSQL of DATABASE_URL, in a
database of its own) with k=3 judgments per comparison, then exports in a child process per run so
that each peak RSS is that export's own. Baseline, measured in the same run: a plain scan of the
same judgment rows (no grouping, no JSON), and the same export at a tenth of the size, to show that
memory stays flat. Targets: under 60 s and under 500 MB at 1,000,000 judgments.

Then `snapshot_create` on the same database (it hashes both exports and measures agreement), against the
export alone as its baseline.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build(n_judgments: int, datanet_name: str) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from feedback_site.accounts.roles import Role
    from feedback_site.accounts.services import user_create
    from feedback_site.annotation import services
    from feedback_site.annotation.models import Assignment, Comparison, Judgment, Prompt, Response

    k = 3
    comparisons = (n_judgments + k - 1) // k
    users = [user_create(username=f"{datanet_name}-u{i}", password="x-bench-123", roles=[Role.ANNOTATOR]) for i in range(k)]
    datanet = services.datanet_create(name=datanet_name, overlap=k)
    now = timezone.now()
    batch = 20_000
    with transaction.atomic():
        for start in range(0, comparisons, batch):
            size = min(batch, comparisons - start)
            prompts = Prompt.objects.bulk_create(
                [Prompt(datanet=datanet, external_id=f"p{start + i}", text=f"Customer question {start + i}: where is my order?") for i in range(size)]
            )
            responses = Response.objects.bulk_create(
                [Response(prompt=p, text=f"Reply {j} to question {p.external_id}, with some specific detail.", position=j) for p in prompts for j in (0, 1)]
            )
            rows = Comparison.objects.bulk_create(
                [Comparison(datanet=datanet, prompt=p, response_a=responses[2 * i], response_b=responses[2 * i + 1], judgment_count=k) for i, p in enumerate(prompts)]
            )
            assignments = Assignment.objects.bulk_create(
                [Assignment(comparison=c, annotator=u, shown_left="a", served_at=now, expires_at=now, submitted_at=now) for c in rows for u in users]
            )
            Judgment.objects.bulk_create(
                [
                    Judgment(
                        assignment=a, comparison_id=a.comparison_id, datanet=datanet, annotator=a.annotator, choice="ab"[(a.comparison_id + a.annotator_id) % 2],
                        strength=1 + a.comparison_id % 3, shown_left="a", time_spent_ms=1000, submitted_at=now,
                    )
                    for a in assignments
                ]
            )
            print(f"  built {min(start + size, comparisons) * k:,} judgments", flush=True)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    snapshot = services.snapshot_create(datanet=datanet)
    print(f"  snapshot {snapshot.id}: {snapshot.counts['judgment_events']:,} judgments", flush=True)


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries it over fork and exec, so every child would report at
    least the size of the parent that built the database."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, datanet_name: str, out: str, aggregation: str) -> None:
    from _django import setup

    setup()
    from feedback_site.annotation import services
    from feedback_site.annotation.exports import snapshot_export
    from feedback_site.annotation.models import Judgment, Snapshot

    snapshot = Snapshot.objects.filter(datanet__name=datanet_name).latest("id")
    started = time.perf_counter()
    if mode == "scan":
        rows = sum(1 for _ in Judgment.objects.filter(datanet_id=snapshot.datanet_id).order_by("comparison_id", "id").values_list("id", "comparison_id", "choice").iterator(chunk_size=5000))
    elif mode == "snapshot":
        rows = services.snapshot_create(datanet=snapshot.datanet, aggregation=aggregation).counts["trl_rows"]
    else:
        snapshot_export(snapshot=snapshot, export_format="trl", out=Path(out))
        rows = sum(1 for _ in open(out, "rb"))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}))


def run_child(mode, datanet_name, out, env, aggregation="majority") -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--datanet", datanet_name, "--out", out, "--aggregation", aggregation],
        env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aggregation", default="majority", help="the aggregation snapshot_create is measured with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--datanet", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.datanet, args.out, args.aggregation)
        return

    from _django import median, setup

    tmp = Path(tempfile.mkdtemp(prefix="ledgerloop-bench-export-"))
    env = dict(os.environ, LEDGERLOOP_VAR_DIR=str(tmp))
    if os.environ.get("DATABASE_URL"):
        print("Using DATABASE_URL as given (a database you can throw away).")
    os.environ.update(env)
    setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    small, large = args.judgments // 10, args.judgments
    print(f"Building {small:,} + {large:,} judgments ...", flush=True)
    build(small, "bench-small")
    build(large, "bench-large")

    results = {}
    measured = (("scan (baseline)", "scan", "bench-large"), ("export 1/10", "export", "bench-small"), ("export", "export", "bench-large"),
                ("snapshot_create", "snapshot", "bench-large"))
    for name, mode, datanet in measured:
        runs = [run_child(mode, datanet, str(tmp / "out.jsonl"), env, args.aggregation) for _ in range(args.runs)]
        results[name] = {
            "seconds": median([r["seconds"] for r in runs]),
            "peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
            "rows": runs[0]["rows"],
        }
    print(f"\nExport of {large:,} judgments to TRL JSONL, median of {args.runs} runs (each in a fresh process)")
    print(f"{'':18s}{'seconds':>10s}{'peak RSS MB':>14s}{'rows':>12s}")
    for name, r in results.items():
        print(f"{name:18s}{r['seconds']:10.1f}{r['peak_rss_mb']:14.0f}{r['rows']:12,d}")
    full, tenth, scan = results["export"], results["export 1/10"], results["scan (baseline)"]
    print(f"\nexport / plain scan of the same rows: {full['seconds'] / scan['seconds']:.2f}x time")
    print(f"memory at full size / at a tenth: {full['peak_rss_mb'] / tenth['peak_rss_mb']:.2f}x (flat is about 1)")
    snapshot = results["snapshot_create"]
    print(f"snapshot_create ({args.aggregation}) / export: {snapshot['seconds'] / full['seconds']:.2f}x time, "
          f"{snapshot['peak_rss_mb'] / full['peak_rss_mb']:.2f}x peak RSS")
    print(f"targets: under 60 s ({'met' if full['seconds'] < 60 else 'NOT met'}), under 500 MB ({'met' if full['peak_rss_mb'] < 500 else 'NOT met'})")


if __name__ == "__main__":
    main()
