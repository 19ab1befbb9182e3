"""Attribution methods side by side on real comparisons judged by a simulated population (CPU, minutes).

    .venv/bin/python benchmarks/bench_attribution.py                   # ../shared/data/hh-rlhf-harmless-1k.jsonl
    .venv/bin/python benchmarks/bench_attribution.py --comparisons 300 --annotators 20 --loo-contributors 10
    .venv/bin/python benchmarks/bench_attribution.py --json var/attribution-validation.json
    .venv/bin/python benchmarks/bench_attribution.py --comparisons 1000 --loo-contributors 10 --lds-subsets 10 \
        --scaling '' --profile simulator/data/attribution_profile.json     # the simulator's attribution profile

What it measures is described in rlhf/attribution/validation.py: detection ROC AUC of contributor scores
(honest vs random + flipping annotators) at k = 3 and k = 1, Spearman between scores and the held-out loss change
of leave-one-contributor-out retraining, the linear datamodeling score over random halves, and the wall time of
one attribution run as a multiple of one training fit, with its growth in the number of rows. With --profile it
also writes the attribution profile (rlhf/attribution/profile.py): each method's paid score per judgment by
annotator kind and correctness, against accuracy, and the credit m copies of a judgment earn. The first run
encodes every text with MiniLM (a few minutes on two cores); later runs read the embedding cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_arguments() -> argparse.Namespace:
    from rlhf.attribution.validation import DEFAULT_DATA, ValidationConfig

    defaults = ValidationConfig(data_path=str(ROOT / DEFAULT_DATA))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=defaults.data_path, help="HH-RLHF style JSONL (default: the 1k sample).")
    parser.add_argument("--comparisons", type=int, default=defaults.comparisons, help="Comparisons read.")
    parser.add_argument("--eval-comparisons", type=int, default=defaults.eval_comparisons,
                        help="Comparisons held out as the evaluation set.")
    parser.add_argument("--annotators", type=int, default=defaults.annotators, help="Simulated annotators.")
    parser.add_argument("--overlaps", default=",".join(map(str, defaults.overlaps)), help="Values of k.")
    parser.add_argument("--mix", default=defaults.mix, help="Population mix.")
    parser.add_argument("--methods", default=",".join(defaults.methods), help="Methods to compare.")
    parser.add_argument("--loo-contributors", type=int, default=defaults.loo_contributors,
                        help="Contributors retrained without (counterfactual truth).")
    parser.add_argument("--lds-subsets", type=int, default=defaults.lds_subsets, help="Random halves for LDS.")
    parser.add_argument("--scaling", default=",".join(map(str, defaults.scaling_fractions)),
                        help="Shares of the rows timed for growth ('' skips).")
    parser.add_argument("--l2", type=float, default=defaults.l2,
                        help="L2 strength of the head (default: chosen by cross-validation on the training rows).")
    parser.add_argument("--head-features", default=defaults.head_features,
                        help="What the head reads: conversation or conversation+reply.")
    parser.add_argument("--study-seeds", type=int, default=defaults.study_seeds,
                        help="Populations of the detection study (0 skips it).")
    parser.add_argument("--study-overlaps", default=",".join(map(str, defaults.study_overlaps)),
                        help="Values of k in the detection study.")
    parser.add_argument("--study-control-noise", default=",".join(map(str, defaults.study_control_noise)),
                        help="Label noises of the detection study's control, a truth the head can represent "
                             "(e.g. 0,0.3; '' skips it).")
    parser.add_argument("--embedding-cache-dir", help="Embedding cache (default: the user's cache).")
    parser.add_argument("--work-dir", help="Where run folders go (default: a temporary folder).")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="Seed.")
    parser.add_argument("--json", help="Also write every figure to this JSON file.")
    parser.add_argument("--profile", help="Also write the attribution profile (rlhf/attribution/profile.py) here.")
    parser.add_argument("--profile-copies", default="2,4,8,16",
                        help="Copy counts of the profile's duplicate experiment ('' skips it; only with --profile).")
    parser.add_argument("--profile-copy-sample", type=int, default=defaults.profile_copy_sample,
                        help="Honest correct judgments copied in that experiment.")
    return parser.parse_args()


def main() -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rlhf.attribution.validation import ValidationConfig, validation_run, validation_table

    args = parse_arguments()
    config = ValidationConfig(
        data_path=args.data, comparisons=args.comparisons, eval_comparisons=args.eval_comparisons,
        annotators=args.annotators, overlaps=tuple(int(k) for k in args.overlaps.split(",") if k),
        mix=args.mix, methods=tuple(m for m in args.methods.split(",") if m),
        loo_contributors=args.loo_contributors, lds_subsets=args.lds_subsets,
        scaling_fractions=tuple(float(share) for share in args.scaling.split(",") if share), l2=args.l2,
        head_features=args.head_features,
        study_seeds=args.study_seeds, study_overlaps=tuple(int(k) for k in args.study_overlaps.split(",") if k),
        study_control_noise=tuple(float(noise) for noise in args.study_control_noise.split(",") if noise),
        embedding_cache_dir=args.embedding_cache_dir, work_dir=args.work_dir, seed=args.seed,
        profile_copies=tuple(int(m) for m in args.profile_copies.split(",") if m) if args.profile else (),
        profile_copy_sample=args.profile_copy_sample)
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)

    results = validation_run(config, progress=progress)
    print(validation_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    if args.profile:
        from rlhf.attribution.profile import attribution_profile, attribution_profile_write
        from rlhf.data import data_sha256
        from rlhf.runs import library_versions

        command = "python benchmarks/bench_attribution.py " + " ".join(sys.argv[1:])
        profile = attribution_profile(results, data_sha256=data_sha256(config.data_path),
                                      versions=library_versions(), command=command)
        print(f"attribution profile: {attribution_profile_write(profile, args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
