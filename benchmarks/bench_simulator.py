"""How fast the simulator runs: the vectorized engine at full size, against the per-agent
reference, and a sweep on one and two local processes.

    python benchmarks/bench_simulator.py                          # everything below, defaults
    python benchmarks/bench_simulator.py --policies volume attribution_bonded --skip-sweep
    python benchmarks/bench_simulator.py --skip-engines --skip-sweep --full-repeats 3   # full size only
    python benchmarks/bench_simulator.py --json var/bench_simulator.json

1. Full size: 100,000 contributors at genesis (100 more a day), 10,000 stakers, 10,000 consumers,
   365 epochs of the baseline scenario, vectorized engine, one core: wall and CPU seconds and peak
   memory (max resident set of a fresh worker process that runs only this), per policy, with the
   load average at the start of each run; --full-repeats N reports medians of N runs.
   Targets: under 15 s and under 2 GiB.
2. Engines: the same scenario shrunk to a size the per-agent reference finishes
   (--reference-contributors, stakers and consumers a tenth of that, --reference-epochs):
   reference wall time over vectorized wall time. Target: at least 20x.
3. Sweep: --sweep-runs runs (policies x seeds of the baseline at --sweep-contributors) on 1 and on
   2 local processes, alternately, --sweep-repeats times each: the speed-up of the median wall times
   and the cost per run (wall seconds per run, and CPU seconds per run of the parent and its
   workers together), with the load average before and after.

The machine's load changes wall times; CPU seconds are reported next to them for that reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from simulator.economy.policies import POLICIES, policy_from_dict
from simulator.model import make_model
from simulator.params import Scenario
from simulator.scenarios import load_scenario
from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

WALL_TARGET_SECONDS = 15.0
MEMORY_TARGET_BYTES = 2 * 2**30
SPEED_RATIO_TARGET = 20.0


def sized(contributors: int, stakers: int, consumers: int, epochs: int) -> Scenario:
    scenario = load_scenario("baseline")
    return scenario.with_changes(
        epochs=epochs,
        contributors=dataclasses.replace(
            scenario.contributors, initial=contributors, arrivals_per_epoch=contributors / 1000
        ),
        stakers=dataclasses.replace(scenario.stakers, count=stakers),
        consumers=dataclasses.replace(scenario.consumers, count=consumers),
    )


def timed_run(
    engine: str, scenario: Scenario, policy: str, seed: int, settlement: str | None = None
) -> dict[str, Any]:
    model = make_model(engine, scenario, policy_from_dict(policy, {}), seed=seed, settlement_mode=settlement)
    wall, cpu = time.perf_counter(), time.process_time()
    table = model.run()
    return {
        "wall_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "mean_active_contributors": float(np.mean(table["contributors_active"])),
        "final_present_contributors": int(table["contributors_present"][-1]),
        "mean_accounts_settled": float(np.mean(table["accounts_settled"])),
    }


def _in_fresh_process(queue: Any, engine: str, scenario: Scenario, policy: str, seed: int) -> None:
    result = timed_run(engine, scenario, policy, seed)
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    queue.put(result)


def full_size(policies: list[str], seed: int, epochs: int, repeats: int = 1) -> dict[str, Any]:
    """Each policy in its own forked worker, so the peak memory is that run's alone; ``repeats``
    runs per policy give the median wall and CPU seconds, each run with the 1-minute load average
    at its start (other work on the machine moves wall time, not CPU time)."""
    scenario = sized(100_000, 10_000, 10_000, epochs)
    context = multiprocessing.get_context("fork")
    results = {}
    for policy in policies:
        runs = []
        for _ in range(repeats):
            load = os.getloadavg()[0]
            queue = context.Queue()
            worker = context.Process(
                target=_in_fresh_process, args=(queue, "vectorized", scenario, policy, seed)
            )
            worker.start()
            run = queue.get()
            worker.join()
            runs.append(dict(run, load_average=load))
        r = dict(
            runs[-1],
            wall_seconds=statistics.median(run["wall_seconds"] for run in runs),
            cpu_seconds=statistics.median(run["cpu_seconds"] for run in runs),
            peak_rss_bytes=max(run["peak_rss_bytes"] for run in runs),
            runs=runs,
        )
        results[policy] = r
        print(
            f"  {policy:<19} wall {r['wall_seconds']:6.2f} s  cpu {r['cpu_seconds']:6.2f} s  "
            f"peak {r['peak_rss_bytes'] / 2**20:7.0f} MiB  active/epoch {r['mean_active_contributors']:8.0f}  "
            f"policy accounts/epoch {r['mean_accounts_settled']:7.0f}  "
            f"{'OK' if r['wall_seconds'] < WALL_TARGET_SECONDS and r['peak_rss_bytes'] < MEMORY_TARGET_BYTES else 'over target'}"
        )
        if repeats > 1:
            print(
                f"  {'':<19} median of {repeats}: wall "
                + ", ".join(f"{run['wall_seconds']:.2f}" for run in runs)
                + " s; cpu "
                + ", ".join(f"{run['cpu_seconds']:.2f}" for run in runs)
                + " s; load average at start "
                + ", ".join(f"{run['load_average']:.2f}" for run in runs)
            )
        else:
            print(f"  {'':<19} load average at start {runs[0]['load_average']:.2f}")
    return results


def _compare_with_current(results: dict[str, Any]) -> None:
    """The policies that remember each account's standing against the current ones, same run."""
    current = [name for name in ("attribution", "attribution_bonded", "volume", "agreement") if name in results]
    for policy in ("attribution_evidence",):
        if policy in results and current:
            baseline = statistics.median(results[name]["wall_seconds"] for name in current)
            print(
                f"  {policy}: {results[policy]['wall_seconds'] / baseline:.2f}x the median wall time of "
                f"{', '.join(current)} ({baseline:.2f} s), measured in this run"
            )


def engines(policy: str, contributors: int, epochs: int, seed: int) -> dict[str, Any]:
    scenario = sized(contributors, contributors // 10, contributors // 10, epochs)
    vectorized = timed_run("vectorized", scenario, policy, seed)
    vectorized_per_account = timed_run("vectorized", scenario, policy, seed, settlement="per_account")
    reference = timed_run("reference", scenario, policy, seed)
    ratio = reference["wall_seconds"] / vectorized["wall_seconds"]
    print(
        f"  {contributors:,} contributors, {epochs} epochs, {policy}: reference {reference['wall_seconds']:.2f} s, "
        f"vectorized {vectorized['wall_seconds']:.2f} s -> {ratio:.1f}x "
        f"({'OK' if ratio >= SPEED_RATIO_TARGET else 'under target'}); "
        f"vectorized with per-account settlement {vectorized_per_account['wall_seconds']:.2f} s "
        f"({reference['wall_seconds'] / vectorized_per_account['wall_seconds']:.1f}x)"
    )
    return {
        "contributors": contributors,
        "epochs": epochs,
        "policy": policy,
        "reference": reference,
        "vectorized": vectorized,
        "vectorized_per_account": vectorized_per_account,
        "ratio": ratio,
    }


def _busy_loop(_: int) -> int:
    total = 0
    for i in range(3_000_000):
        total += i
    return total


def parallel_capacity() -> float:
    """Speed-up of a pure-CPU toy from 1 to 2 forked processes: what this machine allows right
    now (other work on the cores lowers it), to read the sweep's speed-up against."""
    tasks = range(4)
    start = time.perf_counter()
    for task in tasks:
        _busy_loop(task)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_busy_loop, tasks)
    return alone / (time.perf_counter() - start)


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (a pool's workers, once joined)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sweep(runs: int, contributors: int, epochs: int, seed: int, repeats: int) -> dict[str, Any]:
    """The same sweep on 1 and on 2 processes, alternately, ``repeats`` times each: medians, so that
    a burst of other work on the machine lands on both and moves neither figure much."""
    policies = sorted(POLICIES)
    seeds = max(1, runs // len(policies))
    total = seeds * len(policies)
    scenario_dir = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        scenario_file = scenario_dir / "bench.json"
        data = sized(contributors, contributors // 10, contributors // 10, epochs).to_data()
        data["name"] = "bench"
        scenario_file.write_text(json.dumps(data))
        wall: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        run_seconds: dict[int, list[float]] = {1: [], 2: []}
        load_before = os.getloadavg()
        for repeat in range(repeats):
            for processes in (1, 2) if repeat % 2 == 0 else (2, 1):
                config = SweepConfig(
                    name=f"bench-{processes}",
                    scenarios=(str(scenario_file),),
                    policies=tuple(PolicyVariant(p, p) for p in policies),
                    seeds=seeds,
                    root_seed=seed,
                    processes=processes,
                    output=str(scenario_dir / f"out{processes}-{repeat}"),
                )
                start, cpu_start = time.perf_counter(), _cpu_seconds()
                output = run_sweep(config)
                wall[processes].append(time.perf_counter() - start)
                cpu[processes].append(_cpu_seconds() - cpu_start)
                manifest = json.loads((output / "manifest.json").read_text())
                run_seconds[processes].append(statistics.median(r["wall_seconds"] for r in manifest["runs"]))
                shutil.rmtree(output, ignore_errors=True)
        load_after = os.getloadavg()
        capacity = parallel_capacity()
        median = {p: statistics.median(values) for p, values in wall.items()}
        speedup = median[1] / median[2]
        cpu_per_run = {p: statistics.median(values) / total for p, values in cpu.items()}
        print(
            f"  {total} runs ({len(policies)} policies x {seeds} seeds, {contributors:,} contributors, {epochs} epochs), "
            f"median of {repeats} alternating repeats: 1 process {median[1]:.1f} s, 2 processes {median[2]:.1f} s "
            f"-> speed-up {speedup:.2f}x (each repeat: "
            + ", ".join(f"{a / b:.2f}x" for a, b in zip(wall[1], wall[2], strict=True))
            + ")"
        )
        print(
            f"  cost per run: {median[1] / total:.3f} s wall on one process, {median[2] / total:.3f} s on two; "
            f"CPU {cpu_per_run[1]:.3f} s per run on one process, {cpu_per_run[2]:.3f} s on two "
            f"(median run alone {statistics.median(run_seconds[1]):.3f} s / {statistics.median(run_seconds[2]):.3f} s)"
        )
        print(
            f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
            f"({os.cpu_count()} CPUs); a pure-CPU toy gets {capacity:.2f}x from 2 processes right now"
        )
        return {
            "runs": total,
            "contributors": contributors,
            "epochs": epochs,
            "repeats": repeats,
            "wall_seconds": {str(p): values for p, values in wall.items()},
            "cpu_seconds": {str(p): values for p, values in cpu.items()},
            "median_run_seconds": {str(p): values for p, values in run_seconds.items()},
            "speedup": speedup,
            "cost_per_run_seconds": {str(p): median[p] / total for p in median},
            "cpu_per_run_seconds": {str(p): value for p, value in cpu_per_run.items()},
            "load_average_before": load_before,
            "load_average_after": load_after,
            "toy_speedup": capacity,
        }
    finally:
        shutil.rmtree(scenario_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policies", nargs="+", default=sorted(POLICIES), choices=sorted(POLICIES))
    parser.add_argument("--epochs", type=int, default=365, help="epochs of the full-size run")
    parser.add_argument(
        "--full-repeats", type=int, default=1, help="full-size runs per policy (median wall and CPU)"
    )
    parser.add_argument("--reference-contributors", type=int, default=20_000)
    parser.add_argument("--reference-epochs", type=int, default=30)
    parser.add_argument("--reference-policy", default="attribution_bonded", choices=sorted(POLICIES))
    parser.add_argument("--sweep-runs", type=int, default=64)
    parser.add_argument("--sweep-contributors", type=int, default=2_000)
    parser.add_argument("--sweep-epochs", type=int, default=120)
    parser.add_argument("--sweep-repeats", type=int, default=3, help="alternating 1- and 2-process repeats")
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-engines", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    results: dict[str, Any] = {}
    if not args.skip_full:
        print(
            f"1. vectorized engine, 100,000 contributors, 10,000 stakers, 10,000 consumers, {args.epochs} epochs:"
        )
        results["full_size"] = full_size(args.policies, args.seed, args.epochs, args.full_repeats)
        _compare_with_current(results["full_size"])
    if not args.skip_engines:
        print("2. per-agent reference against vectorized, same scenario:")
        results["engines"] = engines(
            args.reference_policy, args.reference_contributors, args.reference_epochs, args.seed
        )
    if not args.skip_sweep:
        print("3. sweep on local processes:")
        results["sweep"] = sweep(
            args.sweep_runs, args.sweep_contributors, args.sweep_epochs, args.seed, args.sweep_repeats
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
