"""The site's one engine per process: the embedded `rlhf.serving.ServingPool`, with generation forwarded
to vLLM when `LEDGERLOOP_VLLM_URL` is set. Maps the engine's refusals to the site's errors."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from django.conf import settings

from . import errors


def _version(model_version) -> Any:
    from rlhf.serving import ServingInputError, served_version

    try:
        return served_version(f"v{model_version.id}", model_version.artifacts_dir)
    except (FileNotFoundError, ValueError, ServingInputError) as error:
        raise errors.InvalidRequest(f"model_version: {model_version.name!r} cannot be served: {error}") from None


@cache
def pool():
    from rlhf.serving import ServingPool

    return ServingPool(memory_budget_bytes=settings.SERVING_MEMORY_BUDGET_MB << 20, device=settings.SERVING_DEVICE)


@cache
def _forwarding():
    from rlhf.serving.vllm import URL_VARIABLE, VllmEngine

    url = os.environ.get(URL_VARIABLE, "")
    return VllmEngine(url) if url else None


def registration_check(model_version) -> tuple[str, bool]:
    """(base model, is an adapter) of a version about to be published; refused when its adapter belongs
    to another base than the one this server serves its kind on."""
    from rlhf.serving import AdapterBaseMismatch

    version = _version(model_version)
    try:
        pool().registration_check(version)
    except AdapterBaseMismatch as error:
        raise errors.AdapterBaseMismatch(f"model_version: {error}") from None
    return version.base, version.adapter


def _served(call, publication, **request) -> dict:
    from rlhf.serving import AdapterBaseMismatch, ServingInputError

    try:
        return call(_version(publication.model_version), **request)
    except ServingInputError as error:
        raise errors.InvalidRequest(f"{error.field}: {error.message}") from None
    except AdapterBaseMismatch as error:
        raise errors.AdapterBaseMismatch(f"model_version: {error}") from None


def score(publication, *, prompt, replies) -> dict:
    result = _served(pool().score, publication, prompt=prompt, replies=replies)
    return {"tokens_in": result["tokens_in"], "tokens_out": 0, "response": {"scores": result["scores"]}}


def generate(publication, *, prompt, max_tokens, temperature, seed) -> dict:
    from rlhf.serving.vllm import EngineUnavailable

    engine = _forwarding() or pool()
    try:
        result = _served(engine.generate, publication, prompt=prompt, max_tokens=max_tokens, temperature=temperature,
                         seed=seed)
    except EngineUnavailable as error:
        raise errors.EngineUnavailable(f"the generation engine cannot be reached: {error}") from None
    return {"tokens_in": result["tokens_in"], "tokens_out": result["tokens_out"], "response": {"text": result["text"]}}
