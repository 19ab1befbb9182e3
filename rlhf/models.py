"""Loading trained run folders (and the models they start from) by path, on the chosen device.

    model, tokenizer, record = reward_model_load("runs/rm-1")          # full or LoRA sequence classifier
    policy, reference, tokenizer, record = dpo_models_load("runs/dpo-1")  # reference None: LoRA adapter off

Nothing here downloads: a path that is not a local folder is passed to transformers as given, which only works
where the user has a network and a hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rlhf.runs import device_resolve, run_json_read

if TYPE_CHECKING:
    from torch.nn import Module
    from transformers import PreTrainedTokenizerBase

Tokenizer = TypeVar("Tokenizer", bound="PreTrainedTokenizerBase")
Model = TypeVar("Model", bound="Module")

ADAPTER_CONFIG = "adapter_config.json"


def tokenizer_prepare(tokenizer: Tokenizer) -> Tokenizer:
    """Give a tokenizer the end and pad tokens TRL's trainers need, in place, and return it.

    Encoder tokenizers (BERT, MiniLM) have no eos token; TRL appends `eos_token` to every text, so their
    separator stands in for it. A tokenizer without a pad token pads with eos, as TRL does.
    """
    if tokenizer.eos_token is None and getattr(tokenizer, "sep_token", None) is not None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenizer_load(path: str | Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return tokenizer_prepare(AutoTokenizer.from_pretrained(str(path)))


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def reward_model_load(model_dir: str | Path, *, device: str = "auto") -> tuple[Any, Any, dict[str, Any]]:
    """A trained `reward_model` run folder -> (sequence-classification model in eval mode, tokenizer, run.json).

    A LoRA run folder holds only the adapter (and the trained score head); the base comes from the run's
    `model_path`.
    """
    from transformers import AutoModelForSequenceClassification

    record = run_json_read(model_dir)
    if record["kind"] != "reward_model":
        raise ValueError(f"{model_dir} holds a {record['kind']} run, not a reward_model")
    tokenizer = tokenizer_load(model_dir)
    if is_adapter_folder(model_dir):
        from peft import PeftModel

        base = AutoModelForSequenceClassification.from_pretrained(record["config"]["model_path"], num_labels=1)
        base.config.pad_token_id = tokenizer.pad_token_id
        model = PeftModel.from_pretrained(base, str(model_dir))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model_placed(model, device), tokenizer, record


def dpo_models_load(model_dir: str | Path, *, device: str = "auto") -> tuple[Any, Any, Any, dict[str, Any]]:
    """A trained `dpo_policy` run folder -> (policy, reference or None, tokenizer, run.json).

    The reference is the model DPO measured against: `ref_model_path`, else the starting `model_path`. For a
    LoRA run it is None: the reference is the policy with its adapter disabled (`policy.disable_adapter()`).
    """
    from transformers import AutoModelForCausalLM

    record = run_json_read(model_dir)
    if record["kind"] != "dpo_policy":
        raise ValueError(f"{model_dir} holds a {record['kind']} run, not a dpo_policy")
    config = record["config"]
    tokenizer = tokenizer_load(model_dir)
    if is_adapter_folder(model_dir):
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(config["model_path"])
        return model_placed(PeftModel.from_pretrained(base, str(model_dir)), device), None, tokenizer, record
    policy = AutoModelForCausalLM.from_pretrained(str(model_dir))
    reference = AutoModelForCausalLM.from_pretrained(config.get("ref_model_path") or config["model_path"])
    return model_placed(policy, device), model_placed(reference, device), tokenizer, record


def model_placed(model: Model, device: str) -> Model:
    """The model on the device `device` (auto, cpu or cuda) resolves to, in eval mode."""
    model.to(device_resolve(device)["device"])
    model.eval()
    return model
