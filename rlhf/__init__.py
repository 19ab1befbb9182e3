"""RLHF training core: preference data, reward models, DPO, evaluation. Never imports Django or the simulator.

Modules (each imports torch/transformers/TRL only inside the functions that need them, so `import rlhf` is fast):

- `rlhf.data`: read and normalise preference exports (JSONL, `datasets` folders, TRL and HH-RLHF formats); split.
- `rlhf.config`: `RewardTrainingConfig`, `DPOTrainingConfig`: run settings with help strings, YAML and CLI flags.
- `rlhf.reward`: `reward_train` through TRL `RewardTrainer` (full or LoRA).
- `rlhf.linear_head`: frozen encoder + linear Bradley-Terry head, with its exact Hessian.
- `rlhf.dpo`: `dpo_train` through TRL `DPOTrainer`.
- `rlhf.evaluate`: held-out metrics for any run folder.
- `rlhf.runs`: run.json, progress/cancellation, device choice shared by the trainers.
- `rlhf.models`: load run folders back as models.
- `rlhf.tiny`: tiny local models and a synthetic learnable preference for tests.
- `python -m rlhf`: the command line (`rlhf.cli`).
"""
