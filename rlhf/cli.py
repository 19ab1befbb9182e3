"""`python -m rlhf`: build tiny models, train reward models and DPO policies, evaluate run folders.

Every command prints progress to stderr and one JSON object (the result) as the last line of stdout, so a
script can read it with `tail -n 1`. Bad input exits with status 2 and a message naming file, line and field.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Any

from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
from rlhf.fields import fields_add_arguments, fields_from_namespace

EXAMPLES = {
    "tiny-model": """examples:
  python -m rlhf tiny-model --out var/tiny-llama
  python -m rlhf tiny-model --out var/tiny-qwen --architecture qwen2 --hidden-size 32
  python -m rlhf tiny-model --out var/tiny-hh --texts ../shared/data/hh-rlhf-harmless-1k.jsonl""",
    "synthetic-data": """examples:
  python -m rlhf synthetic-data --out var/marker.jsonl --rows 200
  python -m rlhf synthetic-data --out var/marker-margin.jsonl --rows 200 --with-margin --seed 3""",
    "train-reward": """examples:
  python -m rlhf train-reward --data var/marker.jsonl --model var/tiny-llama --out var/rm \\
      --learning-rate 1e-3 --batch-size 16
  python -m rlhf train-reward --data export.jsonl --model var/tiny-llama --out var/rm-lora --lora --lora-r 8
  python -m rlhf train-reward --data export.jsonl --head linear --out var/rm-linear      # packaged MiniLM
  python -m rlhf train-reward --data export.jsonl --head linear --out var/rm-linear-2 \
      --head-features conversation --l2 0.01              # the older head, with a fixed L2 (default: by CV)
  python -m rlhf train-reward --config runs/rm.yaml --out var/rm-2 --num-epochs 1 --device cpu
  python -m rlhf train-reward --config runs/rm.yaml --out var/rm-2 --save-steps 50 --resume""",
    "train-dpo": """examples:
  python -m rlhf train-dpo --data var/marker.jsonl --model var/tiny-llama --out var/dpo \\
      --learning-rate 1e-3 --beta 0.1
  python -m rlhf train-dpo --data export.jsonl --model var/tiny-llama --out var/dpo-lora --lora
  python -m rlhf train-dpo --data export.jsonl --model var/sft --ref-model var/base --out var/dpo-2 \\
      --loss-type ipo --save-steps 100 --resume""",
    "evaluate": """examples:
  python -m rlhf evaluate --model var/rm --data var/marker.jsonl          # the run's held-out rows
  python -m rlhf evaluate --model var/dpo --data other.jsonl --split all
  python -m rlhf evaluate --model var/rm-linear --data export.jsonl | tail -n 1 | jq .accuracy""",
    "attribute": """examples:
  python -m rlhf attribute --model var/rm-linear --data export.jsonl --eval heldout.jsonl \\
      --method influence-exact --out var/attribution.json
  python -m rlhf attribute --model var/rm-lora --data export.jsonl --eval heldout.jsonl --method tracin \\
      --out var/attribution-tracin.json | tail -n 1 | jq .      # contributor id -> score""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rlhf",
        description="Reward models and DPO with Hugging Face TRL, on local models only.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(EXAMPLES.values()),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    tiny = command("tiny-model", "Build a tiny causal LM and BPE tokenizer in a folder (offline, seconds).")
    tiny.add_argument("--out", required=True, help="Folder to write the model and tokenizer to.")
    tiny.add_argument("--architecture", choices=("llama", "qwen2"), default="llama", help="Model family.")
    tiny.add_argument("--hidden-size", type=int, default=64, help="Width of the model (default: 64).")
    tiny.add_argument("--layers", type=int, default=2, help="Transformer layers (default: 2).")
    tiny.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size (default: 512).")
    tiny.add_argument("--texts", help="Preference data whose text trains the tokenizer (default: synthetic).")
    tiny.add_argument("--seed", type=int, default=0, help="Seed for the weights and synthetic text.")

    synthetic = command("synthetic-data", "Write pairs where the reply with a marker word always wins (JSONL).")
    synthetic.add_argument("--out", required=True, help="JSONL file to write.")
    synthetic.add_argument("--rows", type=int, default=200, help="Number of pairs (default: 200).")
    synthetic.add_argument("--marker", default="banana", help="The winning word (default: banana).")
    synthetic.add_argument("--with-margin", action="store_true", help="Add a random margin to each row.")
    synthetic.add_argument("--seed", type=int, default=0, help="Seed (default: 0).")

    for name, config_class, help_text in (
        ("train-reward", RewardTrainingConfig, "Train a reward model (TRL RewardTrainer, or a linear head)."),
        ("train-dpo", DPOTrainingConfig, "Train a DPO policy (TRL DPOTrainer)."),
    ):
        train = command(name, help_text)
        train.add_argument("--config", help="YAML file of settings; flags below override it.")
        train.add_argument("--resume", action="store_true",
                           help="Continue from the newest checkpoint-N in --out (starts afresh if none).")
        fields_add_arguments(train, config_class)

    evaluate = command("evaluate", "Score a run folder on preference data; prints metrics as JSON.")
    evaluate.add_argument("--model", required=True, help="A run folder written by train-reward or train-dpo.")
    evaluate.add_argument("--data", required=True, help="Preference data (JSONL export or datasets folder).")
    evaluate.add_argument("--split", choices=("auto", "heldout", "all"), default="auto",
                          help="auto: the run's held-out rows if --data is its training file, else all rows.")
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to run.")
    evaluate.add_argument("--batch-size", type=int, help="Pairs per forward pass (default: the run's).")

    from rlhf.attribution.cli import attribute_add_arguments

    attribute_add_arguments(command("attribute", "Score each training row, judgment and contributor by its "
                                                 "influence on held-out loss; prints contributor scores as JSON."))
    return parser


def _quiet_libraries() -> None:
    """Progress bars and deprecation chatter from the libraries would bury our own progress lines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|peft|torch)\..*")


def _print_progress(step: int, total: int, loss: float | None, eta: float | None) -> None:
    parts = [f"step {step}/{total}"]
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    if eta is not None:
        parts.append(f"eta {eta:.0f}s")
    print("  ".join(parts), file=sys.stderr, flush=True)


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON; they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "tiny-model":
        from rlhf.data import preference_rows_load
        from rlhf.tiny import tiny_model_build

        texts = None
        if args.texts:
            texts = [row.prompt + reply for row in preference_rows_load(args.texts)
                     for reply in (row.chosen, row.rejected)]
        folder = tiny_model_build(args.out, texts=texts, architecture=args.architecture,
                                  hidden_size=args.hidden_size, num_layers=args.layers,
                                  vocab_size=args.vocab_size, seed=args.seed)
        return {"model_dir": str(folder), "architecture": args.architecture}
    if args.command == "synthetic-data":
        from rlhf.data import rows_write_jsonl
        from rlhf.tiny import marker_preference_rows

        rows = marker_preference_rows(args.rows, seed=args.seed, marker=args.marker, with_margin=args.with_margin)
        return {"data_path": str(rows_write_jsonl(rows, args.out)), "rows": len(rows)}
    if args.command == "attribute":
        from rlhf.attribution.cli import attribute_command

        return attribute_command(args)  # contributor id -> score
    if args.command == "evaluate":
        from rlhf.evaluate import evaluate_data

        return evaluate_data(args.model, args.data, split=args.split, device=args.device,
                             batch_size=args.batch_size)

    if args.command == "train-reward":
        from rlhf.reward import reward_train

        result = reward_train(fields_from_namespace(RewardTrainingConfig, args, yaml_path=args.config),
                              on_progress=_print_progress, resume=args.resume)
    else:
        from rlhf.dpo import dpo_train

        result = dpo_train(fields_from_namespace(DPOTrainingConfig, args, yaml_path=args.config),
                           on_progress=_print_progress, resume=args.resume)
    if result.dropped_row_ids:
        print(f"warning: {len(result.dropped_row_ids)} training rows dropped: "
              f"{result.record['dropped_rows']['reason']}; their row_ids are in run.json", file=sys.stderr)
    return {"kind": result.kind, "status": result.status, "output_dir": str(result.output_dir),
            "global_step": result.global_step, "dropped_rows": len(result.dropped_row_ids),
            "metrics": result.metrics, "timings": result.record["timings"],
            **({"l2_choice": result.record["l2_choice"]} if result.record.get("l2_choice") else {})}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        result = _run(args)
    except (ValueError, FileNotFoundError) as error:  # bad data (file, line, field) or settings (field)
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(_json_safe(result), sort_keys=False))
    if args.command == "attribute":
        return 0  # its result is keyed by contributor id, so it has no status field
    return 0 if result.get("status", "completed") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
