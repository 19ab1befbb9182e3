"""Reward models on real preference data, on CPU: accuracy, training time, and the cost of our training path.

    .venv/bin/python benchmarks/bench_reward_models.py                     # ../shared/data/hh-rlhf-harmless-1k.jsonl
    .venv/bin/python benchmarks/bench_reward_models.py --data other.jsonl --epochs 1 --overhead-runs 5
    .venv/bin/python benchmarks/bench_reward_models.py --parts linear       # linear head only (a few minutes)
    .venv/bin/python benchmarks/bench_reward_models.py --parts overhead --overhead-runs 7

What it measures, all with the packaged all-MiniLM-L6-v2 (offline) and the same seeded 800/200 split:
1. MiniLM fine-tuned as a reward model by TRL's RewardTrainer through `rlhf.reward.reward_train`:
   held-out pairwise accuracy with a Wilson 95% interval, train time, pairs/s, rows dropped for length.
2. Frozen MiniLM + linear Bradley-Terry head (`--head linear`): the same figures.
3. 5-fold cross-validation of the linear head over all rows (and of the fine-tune with --cv-finetune), at a
   few L2 strengths, reported as pooled accuracy with its interval.
4. Overhead: wall time of `reward_train` against a plain TRL script doing the same job (load the JSONL, train
   RewardTrainer with the same model, data and settings, save, evaluate the held-out rows), run back to back
   in one process in alternating order; reported as the median over --overhead-runs pairs of ours / plain
   (wall time, and CPU time of this process, which other work on the machine disturbs less).

Published anchors for this data (HH-RLHF, full training sets of tens of thousands of pairs, 0.4-0.8B models):
0.69-0.75 accuracy, with human agreement about 0.65-0.70. 800 pairs and a 22M-parameter encoder sit well below.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "hh-rlhf-harmless-1k.jsonl"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="Preference data (default: the HH-RLHF sample).")
    parser.add_argument("--work-dir", help="Where runs are written (default: a temporary folder).")
    parser.add_argument("--heldout-fraction", type=float, default=0.2, help="Share held out (default 0.2).")
    parser.add_argument("--epochs", type=float, default=1.0, help="Fine-tune epochs (default 1).")
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="Fine-tune learning rate.")
    parser.add_argument("--batch-size", type=int, default=16, help="Fine-tune pairs per step.")
    parser.add_argument("--max-length", type=int, default=512, help="Fine-tune max tokens (MiniLM reads 512).")
    parser.add_argument("--l2", type=float, default=None,
                        help="Linear head L2 strength for the main result (default: chosen by cross-validation on "
                             "the training rows, as training does).")
    parser.add_argument("--head-features", default=None,
                        help="What the linear head reads (default: training's, conversation+reply).")
    parser.add_argument("--folds", type=int, default=5, help="Cross-validation folds.")
    parser.add_argument("--cv-finetune", action="store_true", help="Also cross-validate the fine-tune (slow).")
    parser.add_argument("--parts", default="linear,finetune,overhead",
                        help="Comma-separated parts to run: linear, finetune, overhead (default: all).")
    parser.add_argument("--overhead-runs", type=int, default=5, help="Runs of each path for the overhead median.")
    parser.add_argument("--overhead-pairs", type=int, default=60, help="Rows used by each overhead run.")
    parser.add_argument("--overhead-max-length", type=int, default=256, help="max_length of the overhead runs.")
    return parser.parse_args()


def accuracy_line(name: str, metrics: dict, extra: str = "") -> str:
    low, high = metrics["accuracy_ci95"]
    return (f"{name:<38} accuracy {metrics['accuracy']:.3f}  [95% CI {low:.3f}-{high:.3f}]  "
            f"n={metrics['pairs']:<5} margin {metrics['margin_mean']:+.3f}  {extra}")


def finetune_config(args, data_path: str, output_dir: Path, **changes):
    from rlhf.config import RewardTrainingConfig
    from rlhf.linear_head import encoder_folder

    values = {"data_path": data_path, "model_path": str(encoder_folder(None)), "output_dir": str(output_dir),
              "num_epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
              "max_length": args.max_length, "eval_fraction": args.heldout_fraction, "device": "cpu",
              "warmup_ratio": 0.1, "seed": 0}
    values.update(changes)
    return RewardTrainingConfig(**values)


def run_finetune(args, work: Path) -> dict:
    from rlhf.reward import reward_train

    result = reward_train(finetune_config(args, args.data, work / "finetune"))
    timings = result.record["timings"]
    print(accuracy_line("MiniLM fine-tuned (RewardTrainer)", result.metrics["heldout"],
                        f"train {timings['train_seconds']:.0f}s, {timings['pairs_per_second']:.1f} pairs/s, "
                        f"dropped {len(result.dropped_row_ids)} rows > {args.max_length} tokens"), flush=True)
    return {"heldout": result.metrics["heldout"], "timings": timings, "dropped_rows": len(result.dropped_row_ids)}


def run_linear_head(args, work: Path) -> dict:
    from rlhf.config import RewardTrainingConfig
    from rlhf.reward import reward_train

    features = {"head_features": args.head_features} if args.head_features else {}
    config = RewardTrainingConfig(head="linear", data_path=args.data, output_dir=str(work / "linear"),
                                  eval_fraction=args.heldout_fraction, device="cpu", l2=args.l2,
                                  embedding_cache_dir=str(work / "embedding-cache"), **features)
    result = reward_train(config)
    timings = result.record["timings"]
    l2 = result.record.get("l2_choice", {}).get("l2", args.l2)
    print(accuracy_line(f"frozen MiniLM + linear head ({config.head_features}, l2={l2:g})", result.metrics["heldout"],
                        f"embed {timings['embed_seconds']:.0f}s + fit {timings['fit_seconds']:.2f}s, "
                        f"{timings['pairs_per_second']:.1f} pairs/s (cold cache)"), flush=True)
    return {"heldout": result.metrics["heldout"], "timings": timings, "cache_dir": str(work / "embedding-cache")}


def cross_validate_linear_head(args, rows, cache_dir: str) -> dict:
    import numpy as np

    from rlhf.config import L2_GRID, RewardTrainingConfig
    from rlhf.data import kfold_splits
    from rlhf.evaluate import pairwise_metrics
    from rlhf.linear_head import EmbeddingCache, TextEncoder, bradley_terry_fit, pair_features, row_margins

    encoder = TextEncoder(None, max_length=RewardTrainingConfig.encoder_max_length, device="cpu")
    cache = EmbeddingCache(Path(cache_dir), encoder.encoder_id)
    chosen, rejected = pair_features(encoder, cache, rows, args.head_features or RewardTrainingConfig.head_features)
    difference_of = {row.row_id: chosen[i] - rejected[i] for i, row in enumerate(rows)}
    results = {}
    for l2 in L2_GRID:
        chosen_scores, rejected_scores, fold_accuracies = [], [], []
        started = time.monotonic()
        for train, heldout in kfold_splits(rows, folds=args.folds, seed=0):
            differences = np.array([difference_of[row.row_id] for row in train])
            has_margin = any(row.margin is not None for row in train)
            weights, _ = bradley_terry_fit(differences, row_margins(train) if has_margin else None, l2=l2)
            fold_scores = np.array([difference_of[row.row_id] for row in heldout]) @ weights
            chosen_scores.extend(fold_scores)
            rejected_scores.extend([0.0] * len(heldout))  # score differences against zero: same comparison
            fold_accuracies.append(float((fold_scores > 0).mean()))
        pooled = pairwise_metrics(chosen_scores, rejected_scores)
        results[f"l2={l2:g}"] = {**pooled, "fold_accuracies": fold_accuracies,
                                 "fit_seconds_all_folds": time.monotonic() - started}
        print(accuracy_line(f"linear head {args.folds}-fold CV, l2={l2:g}", pooled,
                            f"folds {min(fold_accuracies):.3f}-{max(fold_accuracies):.3f}"), flush=True)
    return results


def cross_validate_finetune(args, rows, work: Path) -> dict:
    from rlhf.data import kfold_splits
    from rlhf.evaluate import evaluate_model, wilson_interval
    from rlhf.reward import reward_train

    correct = pairs = 0
    fold_accuracies = []
    for fold, (train, heldout) in enumerate(kfold_splits(rows, folds=args.folds, seed=0)):
        folder = work / f"finetune-fold-{fold}"
        reward_train(finetune_config(args, None, folder, eval_fraction=0.0), rows=train)
        metrics = evaluate_model(folder, heldout, device="cpu")
        correct, pairs = correct + metrics["correct"], pairs + metrics["pairs"]
        fold_accuracies.append(metrics["accuracy"])
    low, high = wilson_interval(correct, pairs)
    print(f"{f'fine-tune {args.folds}-fold CV':<38} accuracy {correct / pairs:.3f}  [95% CI {low:.3f}-{high:.3f}]  "
          f"n={pairs:<5} folds {min(fold_accuracies):.3f}-{max(fold_accuracies):.3f}", flush=True)
    return {"accuracy": correct / pairs, "accuracy_ci95": [low, high], "pairs": pairs,
            "fold_accuracies": fold_accuracies}


def plain_trl_script(model_path: str, train_path: Path, heldout_path: Path, output_dir: Path, trl_arguments: dict):
    """What a user would write with TRL alone for the same job: no row bookkeeping, no run.json."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.eos_token = tokenizer.eos_token or tokenizer.sep_token  # BERT tokenizers have no eos; TRL needs one
    data = load_dataset("json", data_files={"train": str(train_path), "heldout": str(heldout_path)})
    trainer = RewardTrainer(model=model_path, args=RewardConfig(**trl_arguments), train_dataset=data["train"],
                            processing_class=tokenizer)
    trainer.train()
    trainer.save_model(str(output_dir))
    return trainer.evaluate(data["heldout"])


def measure_overhead(args, rows, work: Path) -> dict:
    from rlhf.data import preference_split, rows_write_jsonl
    from rlhf.reward import reward_train
    from rlhf.runs import device_resolve, trl_common_arguments

    subset = rows[:args.overhead_pairs]
    subset_path = rows_write_jsonl(subset, work / "overhead.jsonl")
    train, heldout = preference_split(subset, heldout_fraction=args.heldout_fraction, seed=0)
    # The plain script gets the very same rows, in TRL's implicit-prompt form (whole texts), as a user has them.
    train_path, heldout_path = work / "overhead-train.jsonl", work / "overhead-heldout.jsonl"
    for path, part in ((train_path, train), (heldout_path, heldout)):
        path.write_text("".join(json.dumps({"chosen": r.prompt + r.chosen, "rejected": r.prompt + r.rejected}) + "\n"
                                for r in part), encoding="utf-8")
    wall = {"ours": [], "plain_trl": []}
    cpu = {"ours": [], "plain_trl": []}
    for run in range(args.overhead_runs):
        config = finetune_config(args, str(subset_path), work / f"overhead-ours-{run}", num_epochs=1.0,
                                 max_length=args.overhead_max_length)
        plain_arguments = trl_common_arguments(config, device_resolve("cpu"))
        plain_arguments["output_dir"] = str(work / f"overhead-plain-{run}")
        order = ("ours", "plain_trl") if run % 2 == 0 else ("plain_trl", "ours")
        for path_name in order:
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            if path_name == "ours":
                reward_train(config)
            else:
                plain_trl_script(config.model_path, train_path, heldout_path, work / f"overhead-plain-{run}",
                                 plain_arguments)
            wall[path_name].append(time.perf_counter() - wall_started)
            cpu[path_name].append(time.process_time() - cpu_started)
    # Each run's two paths ran back to back, so their ratio shares the machine's load at that moment: the
    # median of those ratios resists other work on the machine better than a ratio of medians.
    paired = statistics.median(o / p for o, p in zip(wall["ours"], wall["plain_trl"], strict=True))
    paired_cpu = statistics.median(o / p for o, p in zip(cpu["ours"], cpu["plain_trl"], strict=True))
    ours, plain = statistics.median(wall["ours"]), statistics.median(wall["plain_trl"])
    print(f"{'overhead: reward_train / plain TRL':<38} {paired:.3f}x wall, {paired_cpu:.3f}x CPU time  "
          f"(median of {args.overhead_runs} back-to-back pairs; medians {ours:.1f}s vs {plain:.1f}s; "
          f"{len(train)} train + {len(heldout)} held-out pairs, 1 epoch, max_length {args.overhead_max_length})",
          flush=True)
    return {"ratio_wall": paired, "ratio_cpu": paired_cpu, "ratio_of_median_wall": ours / plain,
            "wall_seconds": wall, "cpu_seconds": cpu, "train_pairs": len(train), "heldout_pairs": len(heldout)}


def main() -> int:
    args = parse_arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    import torch
    from transformers.trainer import Trainer  # noqa: F401  imported up front so no timed run pays for it

    from rlhf.data import preference_rows_load

    if not Path(args.data).is_file():
        print(f"error: {args.data} not found; pass --data", file=sys.stderr)
        return 2
    rows = preference_rows_load(args.data)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench-reward-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"data {args.data}: {len(rows)} pairs; held out {args.heldout_fraction:.0%} by seeded row hash; "
          f"CPU, {torch.get_num_threads()} torch threads; work dir {work}", flush=True)

    parts = set(args.parts.split(","))
    unknown = parts - {"linear", "finetune", "overhead"}
    if unknown:
        print(f"error: unknown part(s) {sorted(unknown)}; choose from linear, finetune, overhead", file=sys.stderr)
        return 2
    report: dict = {"data": str(args.data), "pairs": len(rows), "torch_threads": torch.get_num_threads()}
    if "linear" in parts:
        report["linear_head"] = run_linear_head(args, work)
        report["linear_head_cv"] = cross_validate_linear_head(args, rows, report["linear_head"]["cache_dir"])
    if "finetune" in parts:
        report["finetune"] = run_finetune(args, work)
        if args.cv_finetune:
            report["finetune_cv"] = cross_validate_finetune(args, rows, work)
    if "overhead" in parts and args.overhead_runs > 0:
        report["overhead"] = measure_overhead(args, rows, work)
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
