"""Settling an epoch: the active emission policy turns the epoch's inputs into ledger entries.

Inputs, read under the chain head's lock: the epoch's emission (``emission_for_epoch`` of the
schedule recorded at genesis) plus what earlier epochs carried over; the epoch's active
attribution rows (scores, judgment counts) and quality rows (flags, agreement), as
``epoch_inputs_record`` recorded them; stakes (the stake accounts' balances,
which are the bonds ``attribution_bonded`` can slash); the fees paid into escrow during the epoch.

Entries, written in ONE transaction, in this order:
1. ``emission``: community pool -> epoch rewards (the budget is this plus the carried-in rest);
2. ``payout``: epoch rewards -> each contributor's wallet, one per paid contributor;
3. ``slash``: stake account -> treasury, for each slash the policy decided;
4. ``fee_share``: fee escrow -> contributors (by attribution), model owners, stakers (pro rata to
   stake, into their wallets), treasury; one ``split_fee`` per model that earned fees. A served
   model version's contributors' part goes by that version's own latest attribution
   (``epoch_inputs.model_version_attribution``), weighted by the economy's ``fee_weights`` rule
   with the epoch's flags; any other model's by the policy's weights for the epoch;
5. ``epoch_settled``: a record (no money) holding the payouts' Merkle root and the totals, so the
   published root is itself covered by the hash chain.
What the policy did not pay stays in the epoch rewards account: that is the carry-over, added
to the next epoch's budget. Slashed tokens go to the treasury (the supply is fixed, nothing is
burnt).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from simulator.economy.epoch import EpochInputs, Standing
from simulator.economy.fees import FeeSplitParams, split_fee
from simulator.economy.merkle import payouts_root
from simulator.economy.policies import fee_weights, params_to_dict, run_policy
from simulator.economy.schedule import emission_for_epoch

from . import errors, selectors
from .bulk import bulk_insert
from .chain import canonical_memo
from .epoch_inputs import epoch_attribution_active, epoch_quality_active, model_version_attribution
from .fields import ExactSum
from .models import (
    AccountKind,
    EntryKind,
    EpochSettlement,
    EpochStanding,
    FeeUsage,
    LedgerAccount,
    LedgerEntry,
)
from .services import NewEntry, append_entries, head_lock, system_account

LOOKUP_CHUNK = 5000  # ids per IN (...) lookup: below every backend's limit on query parameters


def _require_epoch(epoch: Any) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise errors.InvalidInput(f"epoch: expected an integer >= 0, got {epoch!r}")
    return epoch


def _refuse_if_not_next(epoch: int) -> None:
    settled = EpochSettlement.objects.filter(epoch=epoch).first()
    if settled is not None:
        raise errors.EpochAlreadySettled(
            f"epoch {epoch} was already settled at {settled.settled_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(root {settled.payouts_root}); an epoch is settled once"
        )
    expected = selectors.epoch_next()
    if epoch != expected:
        raise errors.EpochOutOfOrder(
            f"epoch {epoch}: epochs are settled in order and the next one to settle is {expected}"
        )


def _wallets_of(contributors: dict[int, tuple[str, int]]) -> dict[int, int]:
    """Contributor id -> wallet account id for the contributors given (a served version's, from an
    earlier epoch's attribution), creating the wallets that do not exist yet."""
    ids = sorted(contributors)
    found: dict[int, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        found.update(LedgerAccount.objects.filter(kind=AccountKind.CONTRIBUTOR, contributor_id__in=ids[start:start + LOOKUP_CHUNK])
                     .values_list("contributor_id", "id"))
    missing = [cid for cid in ids if cid not in found]
    if missing:
        now = timezone.now()
        rows = [(selectors.wallet_key(contributors[cid][0]), AccountKind.CONTRIBUTOR, cid, contributors[cid][1], now)
                for cid in missing]
        bulk_insert(LedgerAccount, ("key", "kind", "contributor_id", "user_id", "created_at"), rows)
        for start in range(0, len(missing), LOOKUP_CHUNK):
            found.update(LedgerAccount.objects.filter(kind=AccountKind.CONTRIBUTOR, contributor_id__in=missing[start:start + LOOKUP_CHUNK])
                         .values_list("contributor_id", "id"))
    return found


def _wallet_ids(epoch: int, contributors: dict[int, tuple[str, int]]) -> dict[int, int]:
    """Contributor id -> wallet account id for everyone with attribution in ``epoch``; wallets
    that do not exist yet are created in bulk (a first epoch can bring a million)."""
    existing = dict(
        LedgerAccount.objects.filter(
            kind=AccountKind.CONTRIBUTOR,
            contributor__epoch_attributions__epoch=epoch,
            contributor__epoch_attributions__superseded_by__isnull=True,
        ).values_list("contributor_id", "id")
    )
    missing = [contributor_id for contributor_id in contributors if contributor_id not in existing]
    if missing:
        now = timezone.now()
        rows = []
        for contributor_id in missing:
            pseudonym, user_id = contributors[contributor_id]
            rows.append((selectors.wallet_key(pseudonym), AccountKind.CONTRIBUTOR, contributor_id, user_id, now))
        bulk_insert(LedgerAccount, ("key", "kind", "contributor_id", "user_id", "created_at"), rows)
        existing = dict(
            LedgerAccount.objects.filter(
                kind=AccountKind.CONTRIBUTOR,
                contributor__epoch_attributions__epoch=epoch,
                contributor__epoch_attributions__superseded_by__isnull=True,
            ).values_list("contributor_id", "id")
        )
    return existing


class _Inputs:
    """What one epoch's settlement reads from the database, keyed by wallet account key."""

    def __init__(self, epoch: int) -> None:
        rows = epoch_attribution_active(epoch=epoch).values_list(
            "contributor_id", "contributor__pseudonym", "contributor__user_id", "score", "judgments"
        )
        pseudonyms: dict[int, tuple[str, int]] = {}
        self.scores: dict[str, float] = {}
        self.judgments: dict[str, int] = {}
        keys_by_contributor: dict[int, str] = {}
        self.keys_by_contributor = keys_by_contributor  # contributor id -> wallet key, this epoch's scored
        for contributor_id, pseudonym, user_id, score, judgments in rows:
            key = selectors.wallet_key(pseudonym)
            pseudonyms[contributor_id] = (pseudonym, user_id)
            keys_by_contributor[contributor_id] = key
            self.scores[key] = score
            self.judgments[key] = judgments
        quality = epoch_quality_active(epoch=epoch)
        self.agreement: dict[str, float] = {
            selectors.wallet_key(pseudonym): rate for pseudonym, rate in quality.agreement.items()
        }
        self.flagged = frozenset(selectors.wallet_key(pseudonym) for pseudonym in quality.flagged)
        wallet_ids = _wallet_ids(epoch, pseudonyms) if pseudonyms else {}
        self.account_ids: dict[str, int] = {
            keys_by_contributor[contributor_id]: account_id for contributor_id, account_id in wallet_ids.items()
        }

        # Stakes: every stake account's balance, keyed by its owner's key (the owner is paid).
        stake_balances = selectors.balances_of_kind(kind=AccountKind.STAKER)
        self.stake_account_ids: dict[str, int] = {}
        self.stakes: dict[str, int] = {}
        for stake_id, owner_id, owner_key in LedgerAccount.objects.filter(kind=AccountKind.STAKER).values_list(
            "id", "owner_id", "owner__key"
        ):
            self.stake_account_ids[owner_key] = stake_id
            self.account_ids.setdefault(owner_key, owner_id)
            if stake_balances.get(stake_id, 0) > 0:
                self.stakes[owner_key] = stake_balances[stake_id]

        # Fees paid into escrow during the epoch, per model (each model has its own owner).
        fees = list(
            FeeUsage.objects.filter(epoch=epoch)
            .values_list("model_id", "model__owner__key", "model__owner_id", "model__model_version_id")
            .annotate(total=ExactSum("fee"))
            .order_by("model_id")
        )
        self.fees_by_model = [(model_id, owner_key, owner_id, total) for model_id, owner_key, owner_id, _, total in fees if total]
        self.fees_collected = sum(total for *_, total in self.fees_by_model)
        for _, owner_key, owner_id, _ in self.fees_by_model:
            self.account_ids.setdefault(owner_key, owner_id)
        # A served version's own contributors, by wallet key, with their score for that version.
        self.version_scores: dict[str, dict[str, float]] = {}
        for model_id, _, _, version_id, total in fees:
            if total and version_id is not None:
                self.version_scores[model_id] = self._version_scores(epoch, version_id)

    def _version_scores(self, epoch: int, version_id: int) -> dict[str, float]:
        rows = list(model_version_attribution(model_version_id=version_id, epoch=epoch).values_list(
            "contributor_id", "contributor__pseudonym", "contributor__user_id", "score"
        ))
        unknown = {cid: (pseudonym, user_id) for cid, pseudonym, user_id, _ in rows
                   if selectors.wallet_key(pseudonym) not in self.account_ids}
        for cid, account_id in _wallets_of(unknown).items():
            self.account_ids[selectors.wallet_key(unknown[cid][0])] = account_id
        return {selectors.wallet_key(pseudonym): score for _, pseudonym, _, score in rows}


def _fee_shares(
    inputs: _Inputs, treasury_key: str, *, params: FeeSplitParams, contributor_weights: dict[str, int],
    epoch_inputs: EpochInputs,
) -> tuple[dict[tuple[str, str, str], int], list[dict]]:
    """Split each model's fees by the policy's fee split; the contributors' part by the weights the
    policy decided (``EpochResult.fee_weights``: a flagged contributor has none), or, for a served
    model version, by ``fee_weights`` over that version's own attribution (flags still apply).
    Returns amounts by (part, recipient key, model) and each split's explanation: one entry per
    model a recipient earned from, so an earnings page can say which model paid what."""
    shares: dict[tuple[str, str, str], int] = defaultdict(int)
    explanations = []
    for model_id, owner_key, _, total in inputs.fees_by_model:
        weights, weighted_by = contributor_weights, "the epoch's attribution"
        if model_id in inputs.version_scores:
            weights = fee_weights(replace(epoch_inputs, attribution_scores=inputs.version_scores[model_id]))
            weighted_by = "the model version's own attribution"
        split = split_fee(
            total, contributor_weights=weights, stakes=inputs.stakes, model_owner=owner_key, params=params
        )
        for part, recipients in (
            ("contributors", split.contributors),
            ("model_owner", split.model_owner),
            ("stakers", split.stakers),
        ):
            for key, amount in recipients.items():
                shares[(part, key, model_id)] += amount
        if split.treasury:
            shares[("treasury", treasury_key, model_id)] += split.treasury
        explanations.append({"model": model_id, "contributors_weighted_by": weighted_by, **split.explanation})
    return shares, explanations


def _standing_before(epoch: int, keys_by_contributor: dict[int, str]) -> tuple[dict[int, Standing], dict[str, Standing]]:
    """Every standing the previous settlement wrote (by contributor id), and those of this epoch's
    scored contributors keyed by wallet key (what the policy reads)."""
    previous = {
        contributor_id: Standing(evidence, judgments, credited)
        for contributor_id, evidence, judgments, credited in EpochStanding.objects.filter(epoch=epoch - 1).values_list(
            "contributor_id", "evidence", "judgments", "credited"
        )
    }
    scored = {key: previous[cid] for cid, key in keys_by_contributor.items() if cid in previous}
    return previous, scored


def _standing_write(
    epoch: int, previous: dict[int, Standing], keys_by_contributor: dict[int, str], result: Any, details: dict[str, Any]
) -> None:
    """This epoch's standing: the policy's new standing for the scored, the rest carried forward."""
    if not previous and not result.standing:
        return
    contributor_of = {key: cid for cid, key in keys_by_contributor.items()}
    current = dict(previous)
    for key, standing in result.standing.items():
        current[contributor_of[key]] = standing
    scored_details = {contributor_of[key]: detail for key, detail in details.items() if key in contributor_of}
    # bulk_create, not COPY: the detail is JSON, which the ORM encodes alike on every backend.
    EpochStanding.objects.bulk_create(
        (
            EpochStanding(
                epoch=epoch,
                contributor_id=cid,
                evidence=standing.evidence,
                judgments=standing.judgments,
                credited=standing.credited,
                detail=scored_details.get(cid),
            )
            for cid, standing in sorted(current.items())
        ),
        batch_size=5000,
    )


def epoch_settle(*, epoch: Any, allow_empty: bool = False) -> EpochSettlement:
    """Settle ``epoch`` with the policy in force, all or nothing (see the module docstring).

    Refused, with the ledger unchanged: an epoch already settled, an epoch other than the next
    one, no genesis yet, and an epoch without any active ``EpochAttribution`` row (unless
    ``allow_empty``, which settles it with nobody paid and the whole budget carried over).
    """
    epoch = _require_epoch(epoch)
    with transaction.atomic():
        head = head_lock()
        schedule = selectors.genesis_schedule()
        _refuse_if_not_next(epoch)
        version, policy = selectors.policy_for_epoch(epoch=epoch)
        if not allow_empty and not epoch_attribution_active(epoch=epoch).exists():
            raise errors.MissingAttribution(
                f"epoch {epoch}: no attribution scores yet (no active EpochAttribution rows), and the "
                f"{policy.name!r} policy pays by them; run the epoch's attribution job first"
            )
        inputs = _Inputs(epoch)
        previous_standing, standing = _standing_before(epoch, inputs.keys_by_contributor)

        pool = system_account(key=selectors.COMMUNITY_POOL, kind=AccountKind.COMMUNITY_POOL)
        rewards = system_account(key=selectors.EPOCH_REWARDS, kind=AccountKind.SYSTEM)
        escrow = system_account(key=selectors.FEE_ESCROW, kind=AccountKind.SYSTEM)
        treasury = system_account(key=selectors.TREASURY, kind=AccountKind.TREASURY)
        inputs.account_ids[treasury.key] = treasury.id
        # Sums over the epoch's own entries, not over the accounts' whole history: the escrow and
        # the rewards account are touched by every settlement, so their balances grow costly.
        fees_paid_in = (
            LedgerEntry.objects.filter(epoch=epoch, kind=EntryKind.FEE).aggregate(total=ExactSum("amount"))["total"] or 0
        )
        if fees_paid_in != inputs.fees_collected:
            raise errors.LedgerInconsistent(
                f"epoch {epoch}: {fees_paid_in} base units of fees were paid into escrow but the epoch's usage "
                f"reports add up to {inputs.fees_collected}; run `python manage.py verify_ledger`"
            )
        emission = emission_for_epoch(schedule, epoch)
        # What the rewards account holds is what the previous epoch carried over (nothing else
        # moves it; verify_ledger checks that each epoch carries in what the one before carried over).
        previous = EpochSettlement.objects.filter(epoch=epoch - 1).first()
        carried_in = previous.carry_over if previous else 0
        epoch_inputs = EpochInputs(
            budget=emission + carried_in,
            fees_collected=inputs.fees_collected,
            epoch=epoch,
            judgment_counts=inputs.judgments,
            agreement_rates=inputs.agreement,
            attribution_scores=inputs.scores,
            bonds=inputs.stakes,
            flagged=inputs.flagged,
            standing=standing,
        )
        result = run_policy(policy, epoch_inputs)
        root = payouts_root(epoch, result.payouts)
        fee_shares, fee_explanations = _fee_shares(
            inputs, treasury.key, params=policy.fee_split(), contributor_weights=result.fee_weights,
            epoch_inputs=epoch_inputs,
        )
        # Per-contributor figures go with each contributor's standing row, not into one big JSON.
        policy_explanation = dict(result.explanation)
        details = policy_explanation.pop("accounts", {})
        _standing_write(epoch, previous_standing, inputs.keys_by_contributor, result, details)

        ids = inputs.account_ids
        entries = []
        if emission:
            entries.append(NewEntry(EntryKind.EMISSION, pool.id, rewards.id, emission, epoch))
        entries.extend(
            NewEntry(EntryKind.PAYOUT, rewards.id, ids[key], amount, epoch) for key, amount in result.payouts.items()
        )
        entries.extend(
            NewEntry(EntryKind.SLASH, inputs.stake_account_ids[key], treasury.id, amount, epoch)
            for key, amount in result.slashes.items()
        )
        part_memos = {(part, model): canonical_memo({"model": model, "part": part}) for part, _, model in fee_shares}
        entries.extend(
            NewEntry(EntryKind.FEE_SHARE, escrow.id, ids[key], amount, epoch, part_memos[part, model])
            for (part, key, model), amount in fee_shares.items()
        )
        totals = {
            "emission": emission,
            "carried_in": carried_in,
            "budget": emission + carried_in,
            "paid": result.total_paid,
            "carry_over": result.carry_over,
            "slashed": result.total_slashed,
            "fees_collected": inputs.fees_collected,
        }
        entries.append(
            NewEntry(
                EntryKind.EPOCH_SETTLED,
                None,
                None,
                0,
                epoch,
                canonical_memo(
                    {
                        "payouts_root": root,
                        "payout_count": len(result.payouts),
                        "policy": policy.name,
                        "params": params_to_dict(policy),
                        **{name: str(value) for name, value in totals.items()},
                    }
                ),
            )
        )
        first_id, last_id = append_entries(head=head, entries=entries)
        return EpochSettlement.objects.create(
            epoch=epoch,
            policy_version=version,
            policy_name=policy.name,
            policy_params=params_to_dict(policy),
            contributors=len(inputs.scores),
            payout_count=len(result.payouts),
            payouts_root=root,
            explanation={"policy": policy_explanation, "fees": fee_explanations},
            first_entry_id=first_id,
            last_entry_id=last_id,
            **totals,
        )


def epoch_settle_next() -> EpochSettlement | None:
    """Settle the next epoch if its attribution has arrived; None if there is nothing to do yet.
    What the periodic task runs."""
    epoch = selectors.epoch_next()
    if not epoch_attribution_active(epoch=epoch).exists():
        return None
    return epoch_settle(epoch=epoch)

