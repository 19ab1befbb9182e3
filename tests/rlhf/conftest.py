"""Fixtures for the RLHF tests: everything offline, tiny models built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"
HH_SAMPLE = DATA_DIR / "hh_rlhf_harmless_60.jsonl"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach a model hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from rlhf.tiny import tiny_model_build

    return tiny_model_build(tmp_path_factory.mktemp("tiny-llama"), seed=0)


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory) -> Path:
    """Shared by the linear-head tests, so MiniLM encodes each synthetic text once per session."""
    return tmp_path_factory.mktemp("embedding-cache")
