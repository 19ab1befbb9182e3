"""Load: simulated annotators on loopback against the site served by gunicorn on PostgreSQL.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/bench_load.py [--seconds 20] [--runs 3]

Each simulated annotator loops: GET /api/datanets/<slug>/next/, then POST its judgment, over one
keep-alive connection, with token auth. Bounded: only 127.0.0.1, a fixed number of clients, a
fixed duration and a cap on requests. Reports judgments/s, p50/p99 latency of "next" and "submit"
at 16 and 64 concurrent annotators, lost (accepted but not stored) and duplicates (a comparison
judged twice by one person, or more than k times), median of --runs runs.

Two ways to load the site:

- saturated, at every --clients setting: every annotator asks again the moment it is answered (no time
  to read). This finds the most judgments/s the loop can serve. Latency here is set by the load itself:
  with n annotators always waiting, Little's law makes the mean time per request n / (2 x judgments/s),
  whatever the code does.
- paced, at the --paced-clients settings (64 by default): the annotators together offer --rate judgments/s
  (250 by default; a comma-separated list runs each rate; 0 skips). Each annotator starts a judgment on a
  fixed schedule (one every n / rate seconds, annotators staggered evenly) and waits for its next slot in
  between, as people reading replies do. This measures the latency a given load sees. A server that cannot
  keep up falls behind the schedule: the achieved rate drops below the offered one and "late p99" (how long
  after its slot a judgment began) grows, so both are reported.

Baseline, measured in the same run with the same clients and server: /healthz/ (no database), the
ceiling for any request on this stack; the ratio says what share of it the judging loop keeps.
Target: at least 250 judgments/s with p99 under 150 ms at 64 annotators on 2 cores.

The benchmark creates and drops its own database next to the one DATABASE_URL names.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _django import median, percentile  # noqa: E402

COMPARISONS = 60_000
OVERLAP = 3
MAX_REQUESTS_PER_CLIENT = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_database_url(url: str, name: str = "ledgerloop_bench_load") -> str:
    """The database a benchmark owns, on the server `url` names."""
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


def prepare(env: dict, clients: int) -> dict:
    """Fresh database, a Datanet big enough for the whole run, and one token per annotator."""
    script = f"""
import json, io
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.authtoken.models import Token
from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services
datanet = services.datanet_create(name="Load", overlap={OVERLAP}, lock_minutes=10)
rows = "".join(json.dumps({{"id": f"q{{i}}", "prompt": f"Question {{i}}: where is my parcel?", "responses": [f"Reply A {{i}}", f"Reply B {{i}}"]}}) + "\\n" for i in range({COMPARISONS}))
services.datanet_import(datanet=datanet, stream=io.BytesIO(rows.encode()), origin="cli")
tokens = []
for i in range({clients}):
    user = user_create(username=f"load{{i}}", password="load-pass-123", roles=[Role.ANNOTATOR])
    services.datanet_member_add(datanet=datanet, user=user)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps({{"slug": datanet.slug, "tokens": tokens}}))
"""
    out = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + script], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def reset_database(env: dict) -> None:
    """Drop and create the (benchmark's own) database env's DATABASE_URL names."""
    import psycopg

    parsed = urlparse(env["DATABASE_URL"])
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def gunicorn_start(env: dict, port: int, *, workers: int, threads: int) -> subprocess.Popen:
    """The site under gunicorn on 127.0.0.1:port, returned once it answers /healthz/."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "feedback_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads), "--worker-class", "gthread", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz/")
            break
        except OSError:
            time.sleep(0.1)
    return server


class Client(threading.Thread):
    def __init__(self, port, token, slug, deadline, judge: bool, schedule: tuple[float, float] | None = None):
        """`schedule`: (first start, seconds between judgments) on the monotonic clock; None: no pauses."""
        super().__init__(daemon=True)
        self.port, self.token, self.slug, self.deadline, self.judge = port, token, slug, deadline, judge
        self.schedule = schedule
        self.next_ms, self.submit_ms, self.late_ms, self.accepted, self.errors = [], [], [], [], []
        self.last_answer = 0.0   # monotonic time of the last response this annotator got

    def wait_for_slot(self, n: int) -> None:
        if self.schedule is None:
            return
        first, interval = self.schedule
        slot = first + (n - 1) * interval
        now = time.monotonic()
        if slot > now:
            time.sleep(slot - now)
        self.late_ms.append(max(0.0, now - slot) * 1000)

    def request(self, conn, method, path, body=None):
        headers = {"Authorization": f"Token {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.last_answer = time.monotonic()
        return response.status, data, (time.perf_counter() - started) * 1000

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = 0
        try:
            while time.monotonic() < self.deadline and n < MAX_REQUESTS_PER_CLIENT:
                n += 1
                self.wait_for_slot(n)
                if time.monotonic() >= self.deadline:
                    break
                if not self.judge:
                    status, _, ms = self.request(conn, "GET", "/healthz/")
                    self.next_ms.append(ms)
                    continue
                status, data, ms = self.request(conn, "GET", f"/api/datanets/{self.slug}/next/")
                self.next_ms.append(ms)
                if status == 204:
                    return
                if status != 200:
                    self.errors.append(f"next {status}")
                    continue
                assignment = json.loads(data)["id"]
                body = json.dumps({"choice": "AB"[n % 2], "strength": 1 + n % 3, "time_spent_ms": 1200, "idempotency_key": f"{self.token[:8]}-{assignment}"})
                status, data, ms = self.request(conn, "POST", f"/api/assignments/{assignment}/judgment/", body)
                self.submit_ms.append(ms)
                if status == 201:
                    self.accepted.append(json.loads(data)["id"])
                else:
                    self.errors.append(f"submit {status}")
        except Exception as exc:  # noqa: BLE001 - counted as an error
            self.errors.append(repr(exc))
        finally:
            conn.close()


def cpu_seconds(server_pid: int) -> dict:
    """CPU time so far of the web server (master and workers), its database backends and this client.

    On a shared machine, wall-clock throughput depends on who else runs; CPU per judgment does not, and
    2 cores / (CPU per judgment) is what the loop could reach with the machine to itself.
    """
    import psutil

    def used(processes) -> float:
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    server = psutil.Process(server_pid)
    backends = [p for p in psutil.process_iter(["cmdline"]) if "ledgerloop_bench_load" in " ".join(p.info["cmdline"] or [])]
    return {"server": used([server, *server.children(recursive=True)]), "database": used(backends), "client": used([psutil.Process()])}


def measure(port, tokens, slug, clients, seconds, judge: bool, server_pid: int, rate: float = 0.0) -> dict:
    """One timed load; `rate` > 0 paces the annotators to that many judgments/s in total."""
    begin = time.monotonic()
    deadline = begin + seconds
    interval = clients / rate if rate else 0.0
    threads = [Client(port, tokens[i], slug, deadline, judge,
                      schedule=(begin + i * interval / clients, interval) if rate else None)
               for i in range(clients)]
    cpu_before = cpu_seconds(server_pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    # Up to the last answer: a paced run's rate is then the offered one while the server keeps up.
    elapsed = max(t.last_answer for t in threads) - begin
    cpu_after = cpu_seconds(server_pid)
    next_ms = [x for t in threads for x in t.next_ms]
    submit_ms = [x for t in threads for x in t.submit_ms]
    accepted = [x for t in threads for x in t.accepted]
    done = max(1, len(accepted) if judge else len(next_ms))
    cpu_ms = {part: (cpu_after[part] - cpu_before[part]) * 1000 / done for part in cpu_before}
    return {
        "per_s": (len(accepted) if judge else len(next_ms)) / elapsed,
        "cpu_server_ms": cpu_ms["server"], "cpu_database_ms": cpu_ms["database"], "cpu_client_ms": cpu_ms["client"],
        "next_p50": percentile(next_ms, 0.5), "next_p99": percentile(next_ms, 0.99),
        "submit_p50": percentile(submit_ms, 0.5), "submit_p99": percentile(submit_ms, 0.99),
        "late_p99": percentile([x for t in threads for x in t.late_ms], 0.99) if rate else 0.0,
        "accepted": accepted, "errors": [e for t in threads for e in t.errors],
    }


def integrity(env: dict, accepted: list[int]) -> tuple[int, int]:
    script = f"""
import json
from django.db.models import Count
from feedback_site.annotation.models import Judgment, Comparison
ids = set(Judgment.objects.values_list("id", flat=True))
accepted = set(json.loads(open({str(Path('/dev/stdin'))!r}).read()))
lost = len(accepted - ids)
dups = Judgment.objects.values("comparison_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1).count()
over = Comparison.objects.filter(judgment_count__gt={OVERLAP}).count()
print(json.dumps([lost, dups + over]))
"""
    out = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + script], env=env, cwd=ROOT, input=json.dumps(accepted), capture_output=True, text=True, check=True)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def one_load(env: dict, port: int, args, clients: int, rate: float) -> tuple[dict, dict, int, int]:
    """Fresh database and server; warm-up, the /healthz/ baseline, then the timed judging load.
    Returns (judging result, baseline result, lost, duplicates)."""
    reset_database(env)
    setup = prepare(env, clients)
    server = gunicorn_start(env, port, workers=args.workers, threads=args.threads)
    try:
        measure(port, setup["tokens"], setup["slug"], clients, 2, judge=False, server_pid=server.pid)  # warm-up: every worker booted and connected
        baseline = measure(port, setup["tokens"], setup["slug"], clients, args.seconds / 3, judge=False, server_pid=server.pid)
        result = measure(port, setup["tokens"], setup["slug"], clients, args.seconds, judge=True, server_pid=server.pid, rate=rate)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    lost, dups = integrity(env, result["accepted"])
    return result, baseline, lost, dups


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (one per core measured best)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--clients", default="16,64", help="concurrent annotators, one setting per comma")
    parser.add_argument("--rate", default="250",
                        help="judgments/s the paced annotators offer together, one paced load per comma (0: none)")
    parser.add_argument("--paced-clients", default="64", help="the --clients settings that also run paced")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_load needs PostgreSQL: set DATABASE_URL=postgres://user@127.0.0.1:5432/anything")
    env = dict(os.environ, DATABASE_URL=bench_database_url(url), DJANGO_SETTINGS_MODULE="feedback_site.settings.local", DEBUG="false", DB_CONN_MAX_AGE="600", PYTHONPATH=str(ROOT))
    port = free_port()
    print(f"gunicorn: {args.workers} workers x {args.threads} threads on 127.0.0.1:{port}; {args.runs} runs of {args.seconds:.0f} s per setting", flush=True)
    paced_at = {int(n) for n in args.paced_clients.split(",") if n}
    table = []
    for clients in (int(n) for n in args.clients.split(",")):
        rates = [float(r) for r in args.rate.split(",") if float(r) > 0] if clients in paced_at else []
        modes = [("saturated", 0.0)] + [("paced", rate) for rate in rates]
        runs = {mode: [] for mode in modes}
        baselines, all_lost, all_dups = [], 0, 0
        for _ in range(args.runs):
            for mode, rate in modes:
                # Each load on a fresh database and server: a load must not inherit the rows and the
                # server state the previous one left (later loads measured slower that way).
                result, baseline_run, lost, dups = one_load(env, port, args, clients, rate)
                if result["errors"]:
                    print(f"  {clients} clients, {mode}: {len(result['errors'])} refused or failed requests, e.g. {result['errors'][:3]}")
                runs[(mode, rate)].append(result)
                baselines.append(baseline_run)
                all_lost += lost
                all_dups += dups
        baseline = median([b["per_s"] for b in baselines])
        baseline_cpu = median([b["cpu_server_ms"] + b["cpu_client_ms"] for b in baselines])
        for mode, rate in modes:
            row = {k: median([r[k] for r in runs[(mode, rate)]]) for k in ("per_s", "next_p50", "next_p99", "submit_p50", "submit_p99", "late_p99", "cpu_server_ms", "cpu_database_ms", "cpu_client_ms")}
            row.update(clients=clients, mode=mode if not rate else f"{mode} {rate:.0f}/s", baseline=baseline, lost=all_lost, dups=all_dups, baseline_cpu_ms=baseline_cpu)
            table.append(row)
    print(f"\n{'annotators':>10s} {'load':<13s}{'judgments/s':>12s}{'next p50':>10s}{'next p99':>10s}{'submit p50':>12s}{'submit p99':>12s}{'late p99':>10s}{'lost':>6s}{'dups':>6s}{'healthz/s':>11s}{'ratio':>7s}")
    for r in table:
        late = f"{r['late_p99']:8.1f}ms" if r["mode"] != "saturated" else f"{'-':>10s}"
        print(f"{r['clients']:10d} {r['mode']:<13s}{r['per_s']:12.0f}{r['next_p50']:9.1f}ms{r['next_p99']:9.1f}ms{r['submit_p50']:11.1f}ms{r['submit_p99']:11.1f}ms{late}{r['lost']:6d}{r['dups']:6d}{r['baseline']:11.0f}{r['per_s'] / r['baseline']:7.2f}")
    print("ratio = judgments/s over /healthz/ requests/s (baseline: same server, same clients, no database, saturated).")
    print("late p99: how long after its slot a paced judgment began (0 while the server keeps up); lost and dups count every mode of the setting.")
    print(f"\n{'annotators':>10s} {'load':<13s}{'CPU ms per judgment: server':>29s}{'database':>10s}{'client':>8s}{'total':>8s}{'2 cores / total':>17s}")
    for r in table:
        total = r["cpu_server_ms"] + r["cpu_database_ms"] + r["cpu_client_ms"]
        print(f"{r['clients']:10d} {r['mode']:<13s}{r['cpu_server_ms']:29.2f}{r['cpu_database_ms']:10.2f}{r['cpu_client_ms']:8.2f}{total:8.2f}{2000 / total:13.0f} j/s")
    print("CPU per judgment does not depend on what else runs on the machine; 2 cores / total is the loop's ceiling here.")
    print("baseline: one /healthz/ request costs " + ", ".join(f"{r['baseline_cpu_ms']:.2f} ms ({r['clients']} clients)" for r in table if r["mode"] == "saturated")
          + " of server + client CPU; a judgment is two requests.")
    print("latencies are medians over runs of each run's percentile; target: >= 250 judgments/s, p99 < 150 ms at 64.")


if __name__ == "__main__":
    main()
