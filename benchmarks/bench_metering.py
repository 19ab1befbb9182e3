"""Metering: what charging an inference call costs, and that a call is charged once even when a worker dies.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/bench_metering.py [--runs 5] [--calls 200] [--consumers 64]

It exits non-zero when a load lost a call, left one charged but unanswered, charged one other than once, or
did not conserve OPEN.

Both parts serve one reward-model LoRA adapter of a small Llama built locally (the shape bench_serving.py
measures by default), on a PostgreSQL database of the benchmark's own next to the one DATABASE_URL names.

1. Overhead, in this process: --calls scoring calls through the site's metered service
   (`serving.services.inference_score`: key check, publication, balance, the fee's ledger entry and the call's
   record in one transaction), each paired with the same call to the engine alone (`serving.engine.score`,
   unmetered: the baseline), alternating call by call. Per run: the median of each and their ratio; the
   figures are medians over --runs runs.
2. Concurrency, over HTTP: --consumers consumers, a thread, a token and a funded account each, call
   POST /api/inference/score/ on the site served by gunicorn on 127.0.0.1, each up to --calls-per-consumer
   calls within --seconds, a fresh idempotency key per call. A refused connection, a reset or a 5xx is
   retried with the same key (at most --attempts times); every fifth answered call is sent once more on
   purpose and must come back replayed with the same call id. When half the calls are answered, one
   gunicorn worker is SIGKILLed (its in-flight calls die with it and are retried). --concurrency-runs such
   loads, each on a fresh server after a warm-up (every worker loads the model). After each, from the
   database: lost (answered, but no record with that id), unanswered (recorded and charged, the client never
   got an answer), double-charged (a key with more than one fee, a consumer charged other than the policy's
   fees of its calls), and conservation of OPEN (the consumers' balances plus the fee escrow unchanged; every account together
   still the total supply).

Bounded: loopback only, a fixed number of consumers, calls and attempts, and a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _django import median, percentile  # noqa: E402
from bench_load import bench_database_url, free_port, gunicorn_start, reset_database  # noqa: E402
from bench_serving import PROMPT, build  # noqa: E402

REPLIES = [" A banana.", " A lemon, mostly."]
DELIBERATE_RETRY_EVERY = 5
FUNDS_OPEN = 10_000


def world_create(adapter: str, consumers: int) -> dict:
    """Genesis, the adapter as a published reward-model version, and funded consumers with tokens."""
    from rest_framework.authtoken.models import Token

    from feedback_site.accounts.roles import Role
    from feedback_site.accounts.services import user_create
    from feedback_site.annotation.models import Snapshot
    from feedback_site.annotation.services import datanet_create
    from feedback_site.ledger import services as ledger_services
    from feedback_site.serving import services
    from feedback_site.training.models import BaseModel, ModelVersion, TrainingJob
    from simulator.economy.units import BASE_UNITS_PER_OPEN

    ledger_services.ledger_genesis()
    engineer = user_create(username="engineer", password="bench-pass-123", roles=[Role.ML_ENGINEER])
    snapshot = Snapshot.objects.create(datanet=datanet_create(name="Metering"), cutoff_judgment_id=0,
                                       content_hash="0" * 64)
    base = BaseModel.objects.create(name="bench-base", family="causal_lm", path=adapter)
    job = TrainingJob.objects.create(snapshot=snapshot, snapshot_hash="0" * 64, method="reward", base_model=base,
                                     state="completed")
    version = ModelVersion.objects.create(job=job, name="rm-metered", kind="reward_model", artifacts_dir=adapter)
    services.model_publish(model_version=version, by=engineer)
    users, tokens = [], []
    for index in range(consumers + 1):  # the first one measures the overhead
        user = user_create(username=f"consumer{index}", password="bench-pass-123", roles=[])
        account = ledger_services.consumer_account_open(user=user)
        ledger_services.ledger_transfer(source_key="allocation:liquidity", destination_key=account.key,
                                        amount=FUNDS_OPEN * BASE_UNITS_PER_OPEN)
        users.append(user)
        tokens.append(Token.objects.create(user=user).key)
    return {"version": version, "users": users, "tokens": tokens}


def overhead(world: dict, *, calls: int, runs: int) -> list[dict]:
    """Per run: median seconds of a metered and of an unmetered call, paired call by call."""
    from feedback_site.serving import engine, services
    from feedback_site.serving.models import Publication

    publication = Publication.objects.get(model_version=world["version"])
    user, version_id = world["users"][0], world["version"].id
    engine.score(publication, prompt=PROMPT, replies=REPLIES)  # loads the base and the adapter
    services.inference_score(user=user, version_id=version_id, prompt=PROMPT, replies=REPLIES, idempotency_key="warm")
    results = []
    for run in range(runs):
        metered, unmetered = [], []
        for index in range(calls):
            started = time.perf_counter()
            engine.score(publication, prompt=PROMPT, replies=REPLIES)
            unmetered.append(time.perf_counter() - started)
            started = time.perf_counter()
            _, replayed = services.inference_score(user=user, version_id=version_id, prompt=PROMPT, replies=REPLIES,
                                                   idempotency_key=f"overhead-{run}-{index}")
            metered.append(time.perf_counter() - started)
            assert not replayed
        results.append({"metered_ms": 1000 * median(metered), "unmetered_ms": 1000 * median(unmetered),
                        "ratio": median(metered) / median(unmetered)})
    return results


def statements_per_call(world: dict) -> int:
    """SQL statements one metered call sends (the unmetered call sends none)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from feedback_site.serving import services

    with CaptureQueriesContext(connection) as captured:
        services.inference_score(user=world["users"][0], version_id=world["version"].id, prompt=PROMPT,
                                 replies=REPLIES, idempotency_key="statements")
    return len(captured.captured_queries)


class Consumer(threading.Thread):
    """Calls with a fresh key each, retrying a failed one with the same key; records what it was answered."""

    def __init__(self, index: int, port: int, token: str, version_id: int, *, calls: int, attempts: int,
                 deadline: float, answered: list, prefix: str = "c"):
        super().__init__(daemon=True)
        self.prefix = prefix
        self.index, self.port, self.token, self.version_id = index, port, token, version_id
        self.calls, self.attempts, self.deadline, self.answered = calls, attempts, deadline, answered
        self.done: dict[str, dict] = {}   # key -> the answer's call id, replayed, attempts it took
        self.errors: list[str] = []
        self.latencies_ms: list[float] = []
        self.conn: http.client.HTTPConnection | None = None

    def post(self, key: str) -> tuple[int, dict]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body = json.dumps({"model_version_id": self.version_id, "prompt": PROMPT, "replies": REPLIES,
                           "idempotency_key": key})
        self.conn.request("POST", "/api/inference/score/", body=body,
                          headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def call(self, key: str) -> dict | None:
        """The answer to one call, retried with the same key through resets and 5xx; None if it never came."""
        for attempt in range(1, self.attempts + 1):
            started = time.perf_counter()
            try:
                status, data = self.post(key)
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.conn = None  # the worker died under this connection: a new one, the same key
                self.errors.append(f"attempt {attempt}: {type(error).__name__}")
                time.sleep(0.05 * attempt)
                continue
            if status in (200, 201):
                self.latencies_ms.append(1000 * (time.perf_counter() - started))
                return {"call_id": data["call_id"], "replayed": data["replayed"], "attempts": attempt,
                        "fee": int(data["fee"])}
            self.errors.append(f"attempt {attempt}: HTTP {status} {data.get('error', '')}")
            if status < 500:
                return None
            time.sleep(0.05 * attempt)
        return None

    def run(self):
        for index in range(self.calls):
            if time.monotonic() >= self.deadline:
                break
            key = f"{self.prefix}{self.index}-{index}"
            answer = self.call(key)
            if answer is None:
                self.errors.append(f"{key}: no answer after {self.attempts} attempts")
                continue
            self.done[key] = answer
            self.answered.append(key)
            if index % DELIBERATE_RETRY_EVERY == 0:
                again = self.call(key)
                if again is None or not again["replayed"] or again["call_id"] != answer["call_id"]:
                    self.errors.append(f"{key}: a deliberate retry was answered {again}")


def balances(consumer_ids: list[int]) -> dict:
    from feedback_site.ledger import selectors
    from feedback_site.ledger.models import AccountKind, LedgerEntry

    consumer_balances = selectors.balances_of_kind(kind=AccountKind.CONSUMER)
    escrow = selectors.account_balance(account=selectors.account_by_key(key=selectors.FEE_ESCROW))
    genesis = sum(LedgerEntry.objects.filter(kind="genesis").values_list("amount", flat=True))
    everything = sum(sum(selectors.balances_of_kind(kind=kind).values()) for kind in AccountKind.values)
    return {"consumers": {i: consumer_balances.get(i, 0) for i in consumer_ids}, "escrow": escrow,
            "all_accounts": everything, "genesis": genesis}


def integrity(threads: list[Consumer], consumer_ids: list[int], before: dict, policy, prefix: str) -> dict:
    """What the database holds of the calls whose keys start with `prefix` (this run's)."""
    from django.db.models import Count

    from feedback_site.ledger.models import FeeUsage
    from feedback_site.serving.models import InferenceCall

    after = balances(consumer_ids)
    calls = InferenceCall.objects.filter(consumer_id__in=consumer_ids, idempotency_key__startswith=prefix)
    stored = {(call.consumer_id, call.idempotency_key): call.id for call in calls}
    due_of = {account: 0 for account in consumer_ids}  # what the policy prices each stored call at
    for call in calls:
        due_of[call.consumer_id] += policy.call_fee(tokens_in=call.tokens_in, tokens_out=call.tokens_out)
    answered = {(consumer_ids[t.index], key): answer["call_id"] for t in threads for key, answer in t.done.items()}
    lost = sum(1 for pair, call_id in answered.items() if stored.get(pair) != call_id)
    unanswered = len(set(stored) - set(answered))
    usages = FeeUsage.objects.filter(consumer_id__in=consumer_ids, request_id__startswith=f"call:{prefix}")
    keys_charged_twice = usages.values("consumer_id", "request_id").annotate(n=Count("id")).filter(n__gt=1).count()
    overcharged = sum(1 for account in consumer_ids
                      if before["consumers"][account] - after["consumers"][account] != due_of[account])
    consumers_before, consumers_after = sum(before["consumers"].values()), sum(after["consumers"].values())
    retried = [answer for t in threads for answer in t.done.values() if answer["attempts"] > 1]
    return {
        "answered": len(answered), "stored": len(stored), "lost": lost, "unanswered": unanswered,
        "keys_charged_twice": keys_charged_twice, "consumers_overcharged": overcharged,
        "fees": sum(usages.values_list("fee", flat=True)), "fees_due": sum(due_of.values()),
        "conserved": consumers_before + before["escrow"] == consumers_after + after["escrow"],
        "supply_conserved": after["all_accounts"] == after["genesis"] == before["all_accounts"],
        "retried_after_failure": len(retried), "retried_replayed": sum(1 for answer in retried if answer["replayed"]),
    }


def worker_kill(server_pid: int) -> int:
    import psutil

    workers = psutil.Process(server_pid).children()
    os.kill(workers[0].pid, signal.SIGKILL)
    return workers[0].pid


def concurrency(world: dict, env: dict, args, run: int) -> dict:
    """The HTTP load with one worker killed mid-run, on a fresh server, then what the database says of it."""
    from feedback_site.ledger.services import consumer_account_for
    from feedback_site.serving.selectors import prices

    consumer_ids = [consumer_account_for(user=user).id for user in world["users"][1:]]
    policy = prices()
    port = free_port()
    server = gunicorn_start(env, port, workers=args.workers, threads=args.threads)
    answered: list[str] = []
    planned = args.consumers * args.calls_per_consumer
    try:
        # Every worker imports torch and loads the model on its first call: do that before the timed run, with
        # the overhead's consumer (not counted below).
        warm = [Consumer(i, port, world["tokens"][0], world["version"].id, calls=1, attempts=args.attempts,
                         deadline=time.monotonic() + args.seconds, answered=[], prefix=f"r{run}-warm")
                for i in range(2 * args.workers * args.threads)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join(args.seconds)
        before = balances(consumer_ids)  # after the warm-up, whose fees reach the escrow too
        began = time.monotonic()
        threads = [Consumer(i, port, world["tokens"][i + 1], world["version"].id, calls=args.calls_per_consumer,
                            attempts=args.attempts, deadline=began + args.seconds, answered=answered,
                            prefix=f"r{run}-c")
                   for i in range(args.consumers)]
        for thread in threads:
            thread.start()
        while len(answered) < planned // 2 and any(t.is_alive() for t in threads):
            time.sleep(0.02)
        killed_at = (len(answered), time.monotonic() - began, worker_kill(server.pid))
        for thread in threads:
            thread.join(args.seconds + 120)
        elapsed = time.monotonic() - began
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    result = integrity(threads, consumer_ids, before, policy, prefix=f"r{run}-c")
    latencies = [ms for t in threads for ms in t.latencies_ms]
    failures = [error for t in threads for error in t.errors]
    result.update(planned=planned, seconds=elapsed, calls_per_s=result["answered"] / elapsed,
                  p50_ms=percentile(latencies, 0.5), p99_ms=percentile(latencies, 0.99), killed_after=killed_at,
                  failed_attempts=len(failures), failure_examples=sorted(set(e.split(": ", 1)[-1] for e in failures))[:5])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="overhead: runs, each reported by its medians")
    parser.add_argument("--calls", type=int, default=200, help="overhead: metered and unmetered calls per run")
    parser.add_argument("--consumers", type=int, default=64, help="concurrency: consumers calling at once")
    parser.add_argument("--calls-per-consumer", type=int, default=20)
    parser.add_argument("--attempts", type=int, default=20, help="most tries of one call (the same key)")
    parser.add_argument("--seconds", type=float, default=120, help="concurrency: no new call after this")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (one is killed mid-run)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--concurrency-runs", type=int, default=3, help="loads, each with a worker killed")
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_metering needs PostgreSQL: set DATABASE_URL=postgres://user@127.0.0.1:5432/anything")
    env = dict(os.environ, DATABASE_URL=bench_database_url(url, "ledgerloop_bench_metering"),
               DJANGO_SETTINGS_MODULE="feedback_site.settings.local", DEBUG="false", DB_CONN_MAX_AGE="600",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    reset_database(env)
    os.environ.update(env)
    import django
    import torch
    from django.core.management import call_command

    torch.set_num_threads(1)
    django.setup()
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp), adapters=1, hidden=args.hidden, layers=args.layers, heads=args.heads, seed=0)
        world = world_create(built["adapters"][0], args.consumers)
        print(f"base: hidden {args.hidden}, {args.layers} layers, one LoRA reward adapter; PostgreSQL database "
              f"{env['DATABASE_URL'].rsplit('/', 1)[-1]}", flush=True)
        runs = overhead(world, calls=args.calls, runs=args.runs)
        for run in runs:
            print(f"  run: metered {run['metered_ms']:.2f} ms, unmetered {run['unmetered_ms']:.2f} ms, "
                  f"ratio {run['ratio']:.2f}x", flush=True)
        metered, unmetered = median([r["metered_ms"] for r in runs]), median([r["unmetered_ms"] for r in runs])
        print(f"overhead, medians of {args.runs} runs of {args.calls} paired calls: metered {metered:.2f} ms, "
              f"unmetered (baseline) {unmetered:.2f} ms: metering adds {metered - unmetered:.2f} ms, "
              f"ratio {median([r['ratio'] for r in runs]):.2f}x; {statements_per_call(world)} SQL statements per "
              "metered call")
        if args.skip_concurrency:
            return
        results = [concurrency(world, env, args, run) for run in range(args.concurrency_runs)]
    print(f"concurrency: {args.consumers} consumers x up to {args.calls_per_consumer} calls, gunicorn {args.workers} "
          f"workers x {args.threads} threads, {args.concurrency_runs} runs on a fresh server each")
    for result in results:
        done, seconds, pid = result["killed_after"]
        print(f"  worker {pid} SIGKILLed after {done} answered calls ({seconds:.1f} s); answered {result['answered']} of "
              f"{result['planned']} in {result['seconds']:.1f} s ({result['calls_per_s']:.0f} calls/s, p50 "
              f"{result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms); {result['failed_attempts']} failed attempts "
              f"retried {result['failure_examples']}; {result['retried_after_failure']} calls retried after a failure, "
              f"{result['retried_replayed']} of them answered from the stored record (charged before the kill)")
        print(f"    lost {result['lost']}, recorded but unanswered {result['unanswered']}, keys charged twice "
              f"{result['keys_charged_twice']}, consumers charged other than their calls' fees "
              f"{result['consumers_overcharged']}, fees = the fees due: {result['fees'] == result['fees_due']}; "
              f"consumers' balances + fee escrow unchanged: {result['conserved']}; all accounts = genesis supply: "
              f"{result['supply_conserved']}")
    if not all(metering_held(result) for result in results):
        sys.exit("metering failed: a call was lost, unanswered or charged other than once, or OPEN was not conserved")


def metering_held(result: dict) -> bool:
    return (result["lost"] == result["unanswered"] == result["keys_charged_twice"] == result["consumers_overcharged"]
            == 0 and result["fees"] == result["fees_due"] and result["conserved"] and result["supply_conserved"]
            and result["answered"] == result["planned"])


if __name__ == "__main__":
    main()
