"""`python -m rlhf attribute`: the command's flags and what it does (rlhf.cli wires it in).

The report goes to --out (JSON, see rlhf.attribution.run); a summary goes to stderr; the last line of stdout is
one JSON object of contributor id -> score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rlhf.attribution.methods import BUILTIN_ORDER, AttributionSettings

METHOD_CHOICES = BUILTIN_ORDER


def attribute_add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlhf.fields import fields_add_arguments

    parser.add_argument("--model", required=True, help="A completed run folder (train-reward or train-dpo).")
    parser.add_argument("--data", required=True,
                        help="The export the run trained on; its held-out and dropped rows are left out.")
    parser.add_argument("--eval", required=True, help="Held-out preference rows the influence is measured on.")
    parser.add_argument("--method", required=True, choices=METHOD_CHOICES, help="Attribution method.")
    parser.add_argument("--out", required=True, help="JSON file to write the full report to.")
    parser.add_argument("--votes", help="JSON object judgment id -> 1 (agreed with its row's label), -1 "
                                        "(dissented) or 0 (no preference), for exports that list dissenting "
                                        "judgments on a row; default: every judgment agreed.")
    parser.add_argument("--config", help="YAML file of settings; flags below override it.")
    fields_add_arguments(parser, AttributionSettings)


def votes_load(path: str | Path) -> dict[int, int]:
    path = Path(path)
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object of judgment id -> vote")
    votes = {}
    for key, value in loaded.items():
        try:
            votes[int(key)] = value
        except ValueError:
            raise ValueError(f"{path}: key {key!r} is not a judgment id (an integer)") from None
    return votes


def attribute_command(args: argparse.Namespace) -> dict[str, Any]:
    from rlhf.attribution.run import attribution_run, attribution_write, data_identity
    from rlhf.data import preference_rows_load
    from rlhf.fields import fields_from_namespace

    settings = fields_from_namespace(AttributionSettings, args, yaml_path=args.config)
    rows, eval_rows = preference_rows_load(args.data), preference_rows_load(args.eval)
    report = attribution_run(args.model, rows, eval_rows, method=args.method, settings=settings,
                             votes=votes_load(args.votes) if args.votes else None,
                             data=data_identity(args.data), eval_data=data_identity(args.eval))
    path = attribution_write(report, args.out)
    data = report["data"]
    print(f"attribute: {args.method} scored {data['train_rows']} training rows ({data['excluded']['heldout']} "
          f"held out and {data['excluded']['dropped']} dropped left out) against {report['eval']['rows']} "
          f"evaluation rows in {report['cost']['wall_seconds']:.1f}s; report: {path}", file=sys.stderr)
    if not data["matches_run"]:
        print(f"warning: {args.data} is not byte for byte the file the run trained on "
              f"(sha256 {data['sha256'][:12]} vs {str(report['model']['trained_on_sha256'])[:12]})", file=sys.stderr)
    if report["eval"]["comparisons_also_in_training"]:
        print(f"warning: {report['eval']['comparisons_also_in_training']} evaluation comparisons are also training "
              "comparisons; their rows' scores are inflated", file=sys.stderr)
    contributors: dict[str, Any] = report["contributors"]
    return contributors
