"""Serving many LoRA adapters on one base against separately loaded models, in the same run.

    .venv/bin/python benchmarks/bench_serving.py                      # CPU, a small Llama built locally
    .venv/bin/python benchmarks/bench_serving.py --device cuda --hidden 896 --layers 24 --heads 14 --intermediate 4864
                                                                      # a Qwen2-0.5B shape but its vocabulary

For each N in --adapters (default 1, 8, 64), in a fresh process each:
- memory: resident memory added by loading N reward-model versions as LoRA adapters on one base, against
  N separately loaded whole models of the same shape (target: 64 adapters <= 1.5x one whole model);
- start-up: seconds to load the N versions (first call to each);
- requests: --requests scoring calls spread at random over the N adapters: requests/s, p50 and p99, against
  the same requests to one merged model; the ratio is the cost of adapter switching.
N whole models are loaded only up to --whole-max (default: every N); beyond it their row is left out, where they
would not fit in memory.
Medians over --repeats runs. Every adapter is random (LoRA B not zero), so each scores differently.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT = "\n\nHuman: Which fruit is yellow?\n\nAssistant:"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def build(root: Path, *, adapters: int, hidden: int, layers: int, heads: int, seed: int,
          intermediate: int | None = None, rank: int = 8) -> dict:
    """A base causal LM, `adapters` random LoRA reward adapters on it, and one whole (merged) reward model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from rlhf.models import tokenizer_load
    from rlhf.tiny import tiny_model_build

    base = tiny_model_build(root / "base", hidden_size=hidden, num_layers=layers, num_heads=heads,
                            intermediate_size=intermediate, seed=seed)
    tokenizer = tokenizer_load(base)
    folders = []
    for index in range(adapters):
        torch.manual_seed(seed + index)
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model.config.pad_token_id = tokenizer.pad_token_id
        lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                                init_lora_weights=False))
        folder = root / f"adapter-{index}"
        lora.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "run.json").write_text(json.dumps({"kind": "reward_model", "config": {"model_path": str(base)}}))
        folders.append(str(folder))
        if index == 0:
            merged = root / "merged"
            lora.merge_and_unload().save_pretrained(merged)
            tokenizer.save_pretrained(merged)
            (merged / "run.json").write_text(json.dumps({"kind": "reward_model", "config": {"model_path": str(base)}}))
    return {"base": str(base), "adapters": folders, "merged": str(root / "merged")}


def measure(spec: dict) -> dict:
    """In this (fresh) process: load the versions, then time the requests."""
    import random

    import peft  # noqa: F401 - imported before the baseline, so library code is not counted as model memory
    import torch
    import transformers.models.llama.modeling_llama  # noqa: F401

    from rlhf.serving import ServingPool, served_version

    torch.set_num_threads(1)
    replies = [" A banana.", " A lemon, mostly."]
    pool = ServingPool(memory_budget_bytes=1 << 40, device=spec["device"])
    if spec["mode"] == "adapters":
        versions = [served_version(f"a{i}", path) for i, path in enumerate(spec["adapters"])]
    else:  # N separately loaded whole models
        versions = [served_version(f"w{i}", spec["merged"]) for i in range(len(spec["adapters"]))]
    before = rss_bytes()
    started = time.perf_counter()
    for version in versions:
        pool.score(version, PROMPT, replies)
    startup = time.perf_counter() - started
    memory = rss_bytes() - before
    rng = random.Random(0)
    latencies = []
    for _ in range(spec["requests"]):
        version = versions[rng.randrange(len(versions))]
        begun = time.perf_counter()
        pool.score(version, PROMPT, replies)
        latencies.append(time.perf_counter() - begun)
    latencies.sort()
    return {"memory_bytes": memory, "startup_s": startup, "rps": len(latencies) / sum(latencies),
            "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}


def in_fresh_process(spec: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", json.dumps(spec)], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapters", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--intermediate", type=int, default=None, help="MLP width (default: twice --hidden).")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank of the adapters (default 8, as training's).")
    parser.add_argument("--whole-max", type=int, default=None,
                        help="Load N separately loaded whole models only for N up to this (default: every N).")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no GPU is available here: run this on a machine with one (--device cuda); measuring on the CPU")
        args.device = "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp), adapters=max(args.adapters), hidden=args.hidden, layers=args.layers, heads=args.heads,
                      intermediate=args.intermediate, rank=args.rank, seed=0)
        one_whole = None
        spread = {}
        print(f"base: hidden {args.hidden}, {args.layers} layers, MLP {args.intermediate or 2 * args.hidden}; LoRA r "
              f"{args.rank} on all linear layers; "
              f"{args.requests} requests; "
              f"medians of {args.repeats} runs; device {args.device}")
        print("| N | mode | memory MiB | start-up s | req/s | p50 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for n in args.adapters:
            results = {}
            for mode in ("adapters", "whole"):
                if mode == "whole" and args.whole_max is not None and n > args.whole_max:
                    print(f"| {n} | whole | not loaded (--whole-max {args.whole_max}) | | | | |")
                    continue
                spec = {"mode": mode, "adapters": built["adapters"][:n], "merged": built["merged"],
                        "requests": args.requests, "device": args.device}
                runs = [in_fresh_process(spec) for _ in range(args.repeats)]
                results[mode] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
                row = results[mode]
                print(f"| {n} | {mode} | {row['memory_bytes'] / 2**20:.1f} | {row['startup_s']:.2f} | {row['rps']:.0f} "
                      f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
            spread[n] = results["adapters"]["rps"]
            if n == 1:
                one_whole = results["whole"]
            if one_whole:
                wholes = (f"; {n} whole models {results['whole']['memory_bytes'] / one_whole['memory_bytes']:.2f}x"
                          if "whole" in results else "")
                print(f"N={n}: {n} adapters take {results['adapters']['memory_bytes'] / one_whole['memory_bytes']:.2f}x "
                      f"the memory of one whole model{wholes}")
        # The N = 1 "whole" runs are the same requests to one merged model: the baseline of switching.
        if one_whole:
            for n, rps in spread.items():
                print(f"requests spread over {n} adapters: {rps:.0f} req/s against {one_whole['rps']:.0f} req/s on one "
                      f"merged model (switching cost ratio {one_whole['rps'] / rps:.2f}x)")

if __name__ == "__main__":
    main()
