"""Publishing model versions for serving, and metered calls to them.

A call is served first and charged after, in one transaction that records it and takes its fee
(`ledger.services.fee_record`, the same path a usage report takes, so the fee reaches the epoch's
settlement and is split there by the policy's rules). Hence:
- the fee is the policy's `call_fee` of the call's tokens (a price per call and one per token), known once
  it is served: a balance short of the price per call is refused before serving (402), and one short of
  the fee after (402, and the response is thrown away: nothing served is nothing charged);
- a retry with the same idempotency key gets the stored response back and is not charged again, even
  when the first request's client never saw its answer (a worker killed after the commit);
- a worker killed before the commit has charged nothing and recorded nothing, and the retry serves anew.
Two requests racing with one key are served twice but charged once: the second finds the first's record.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from feedback_site.ledger import errors as ledger_errors
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services
from feedback_site.training.models import ModelVersion

from . import engine, errors, selectors
from .models import InferenceCall, Operation, Publication

MAX_KEY_CHARS = 100
SERVABLE_KINDS: dict[str, tuple[str, ...]] = {Operation.SCORE: ("reward_model",), Operation.GENERATE: ("dpo_policy",)}


def ledger_model_id(version: ModelVersion) -> str:
    return f"model-version-{version.id}"


def model_publish(*, model_version: ModelVersion, by) -> Publication:
    """Make a version callable. Its weights must be servable by the engine (a LoRA adapter must belong to
    the base the engine has loaded for its kind: refused naming both); the ledger registers it, owned by
    the engineer who publishes it (the owner's share of its fees goes there)."""
    existing = Publication.objects.filter(model_version=model_version).first()
    if existing is not None and existing.unpublished_at is None:
        return existing
    if model_version.kind not in {kind for kinds in SERVABLE_KINDS.values() for kind in kinds}:
        raise errors.InvalidRequest(
            f"model_version: a {model_version.kind} cannot be served; publish a reward model or a DPO policy"
        )
    base, adapter = engine.registration_check(model_version)
    model_id = ledger_model_id(model_version)
    with transaction.atomic():
        ledger_services.model_register(model_id=model_id, owner=by, model_version=model_version)
        if existing is not None:
            existing.unpublished_at = None
            existing.save(update_fields=["unpublished_at"])
            return existing
        return Publication.objects.create(
            model_version=model_version, ledger_model_id=model_id, base_model=base, adapter=adapter, published_by=by
        )


def model_unpublish(*, model_version: ModelVersion) -> Publication:
    publication = Publication.objects.filter(model_version=model_version, unpublished_at__isnull=True).first()
    if publication is None:
        raise errors.VersionNotServed(f"model_version: {model_version.name!r} is not published")
    publication.unpublished_at = timezone.now()
    publication.save(update_fields=["unpublished_at"])
    return publication


def inference_score(*, user, version_id: Any, prompt: Any, replies: Any, idempotency_key: Any) -> tuple[InferenceCall, bool]:
    """Reward-model scores of each reply to the prompt. Returns (call, replayed)."""
    request = {"prompt": prompt, "replies": replies}
    return _metered(
        user=user, version_id=version_id, operation=Operation.SCORE, request=request, key=idempotency_key,
        serve=lambda publication: engine.score(publication, prompt=prompt, replies=replies),
    )


def inference_generate(
    *, user, version_id: Any, prompt: Any, max_tokens: Any, temperature: Any, seed: Any, idempotency_key: Any
) -> tuple[InferenceCall, bool]:
    """A DPO policy's reply to the prompt, sampled with the seed given. Returns (call, replayed)."""
    request = {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    return _metered(
        user=user, version_id=version_id, operation=Operation.GENERATE, request=request, key=idempotency_key,
        serve=lambda publication: engine.generate(
            publication, prompt=prompt, max_tokens=max_tokens, temperature=temperature, seed=seed
        ),
    )


def _checked_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
        raise errors.InvalidRequest(f"idempotency_key: required, a string of 1 to {MAX_KEY_CHARS} characters")
    return key


def _publication(version_id: Any, operation: str) -> Publication:
    if isinstance(version_id, bool) or not isinstance(version_id, int):
        raise errors.InvalidRequest(f"model_version_id: expected an integer, got {version_id!r}")
    publication = (
        Publication.objects.select_related("model_version")
        .filter(model_version_id=version_id, unpublished_at__isnull=True)
        .first()
    )
    if publication is None:
        raise errors.VersionNotServed(f"model_version_id: {version_id} is not a published model version")
    if publication.model_version.kind not in SERVABLE_KINDS[operation]:
        raise errors.InvalidRequest(
            f"model_version_id: {version_id} is a {publication.model_version.kind}; "
            f"{operation} needs a {' or '.join(SERVABLE_KINDS[operation])}"
        )
    return publication


def _digest(version_id: int, operation: str, request: dict) -> str:
    canonical = json.dumps({"version": version_id, "operation": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(consumer, key: str, digest: str) -> InferenceCall | None:
    call = InferenceCall.objects.filter(consumer=consumer, idempotency_key=key).first()
    if call is not None and call.request_digest != digest:
        raise errors.KeyReused(f"idempotency_key: {key!r} was used for a different request")
    return call


def _metered(
    *, user, version_id: Any, operation: str, request: dict, key: Any, serve: Callable[[Publication], dict]
) -> tuple[InferenceCall, bool]:
    key = _checked_key(key)
    publication = _publication(version_id, operation)
    consumer = ledger_services.consumer_account_for(user=user)
    digest = _digest(publication.model_version_id, operation, request)
    stored = _stored(consumer, key, digest)
    if stored is not None:
        return stored, True
    policy = selectors.prices()
    # The tokens are counted as the call is served; no call costs less than its price per call, so a balance
    # short of that is refused before any work.
    least = policy.call_fee(tokens_in=0, tokens_out=0)
    balance = ledger_selectors.account_balance(account=consumer)
    if balance < least:
        raise errors.PaymentRequired(f"a call costs at least {least} base units and your consumer balance is {balance}")
    started = time.perf_counter()
    served = serve(publication)
    latency_ms = round((time.perf_counter() - started) * 1000)
    tokens_out = served.get("tokens_out", 0)
    fee = policy.call_fee(tokens_in=served["tokens_in"], tokens_out=tokens_out)
    try:
        with transaction.atomic():
            usage, created = ledger_services.fee_record(
                user=user, request_id=f"call:{key}", model_id=publication.ledger_model_id, calls=1, fee=fee
            )
            if not created:
                raise IntegrityError("a request with this key was charged meanwhile")
            call = InferenceCall.objects.create(
                consumer=consumer, idempotency_key=key, request_digest=digest,
                model_version=publication.model_version, operation=operation,
                tokens_in=served["tokens_in"], tokens_out=tokens_out, fee=fee,
                latency_ms=latency_ms, response=served["response"], usage=usage,
            )
    except ledger_errors.InsufficientFunds:
        raise errors.PaymentRequired(
            f"the call costs {fee} base units ({served['tokens_in']} tokens in, {tokens_out} out) and your consumer "
            "balance is short of it; nothing was charged"
        ) from None
    except IntegrityError:
        stored = _stored(consumer, key, digest)
        if stored is None:
            raise
        return stored, True
    return call, False
