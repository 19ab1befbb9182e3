"""Ledger REST API (token or session auth). Amounts travel as strings of base units (10**18 per
OPEN): JSON readers whose numbers are doubles cannot hold them. Integers are accepted on input;
floats never are."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback_site.accounts.services import contributor_for

from . import errors, selectors, services
from .amounts import parse_base_units


@extend_schema_field(OpenApiTypes.STR)
class BaseUnitsInput(serializers.Field):
    """An amount of base units: an integer or a string of digits; refuses floats and negatives."""

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_base_units(data, field=self.field_name, allow_zero=self.allow_zero)
        except errors.InvalidAmount as error:
            raise serializers.ValidationError(error.message) from None

    def to_representation(self, value):
        return str(value)


class UsageInSerializer(serializers.Serializer):
    request_id = serializers.CharField(max_length=services.MAX_REQUEST_ID_CHARS, help_text="Your id for this report; repeating it is safe.")
    model_version_id = serializers.CharField(max_length=services.MAX_MODEL_ID_CHARS, help_text="A registered model version.")
    calls = serializers.IntegerField(min_value=1)
    fee = BaseUnitsInput(allow_zero=True, help_text="Fee paid, base units, as an integer or a string of digits.")


class AmountInSerializer(serializers.Serializer):
    amount = BaseUnitsInput(help_text="Base units, as an integer or a string of digits.")


def _usage_json(usage) -> dict:
    return {
        "id": usage.id,
        "request_id": usage.request_id,
        "model_version_id": usage.model_id,
        "calls": usage.calls,
        "fee": str(usage.fee),
        "epoch": usage.epoch,
        "entry_id": usage.entry_id,
    }


def _wallet_json(contributor) -> dict:
    summary = selectors.wallet_summary(contributor=contributor)
    return {
        "account": summary.wallet.key if summary.wallet else selectors.wallet_key(contributor.pseudonym),
        "balance": str(summary.balance),
        "staked": str(summary.staked),
        "unbonding_withdrawable": str(summary.unbonding_withdrawable),
        "unbonding_pending": str(summary.unbonding_pending),
        "fee_shares": str(summary.fee_shares),
        "fee_shares_by_model": [
            {"model": model, "model_version": version or None, "amount": str(amount)}
            for model, version, amount in summary.fee_shares_by_model
        ],
        "payouts": [
            {
                "epoch": row.epoch,
                "amount": str(row.amount),
                "entry_id": row.entry_id,
                "attribution_score": row.score,
                "judgments": row.judgments,
                "payouts_root": row.payouts_root,
                "why": row.why,
            }
            for row in summary.payouts
        ],
    }


class ConsumerAccountApi(APIView):
    @extend_schema(request=None, responses={201: inline_serializer("ConsumerAccount", {"account": serializers.CharField(), "balance": serializers.CharField()})})
    def post(self, request):
        account = services.consumer_account_open(user=request.user)
        return Response(
            {"account": account.key, "balance": str(selectors.account_balance(account=account))},
            status=status.HTTP_201_CREATED,
        )


class UsageApi(APIView):
    """Record a consumer's usage of a model and pay its fee (split among contributors, the model
    owner, stakers and the treasury when the epoch is settled)."""

    parser_classes = [JSONParser]

    @extend_schema(request=UsageInSerializer, responses={201: dict, 200: dict})
    def post(self, request):
        serializer = UsageInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        usage, created = services.fee_record(
            user=request.user,
            request_id=data["request_id"],
            model_id=data["model_version_id"],
            calls=data["calls"],
            fee=data["fee"],
        )
        return Response(_usage_json(usage), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WalletApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request):
        return Response(_wallet_json(contributor_for(user=request.user)))


class StakeApi(APIView):
    parser_classes = [JSONParser]
    stake_action = "stake"

    @extend_schema(request=AmountInSerializer, responses={201: dict})
    def post(self, request):
        contributor = contributor_for(user=request.user)
        if self.stake_action == "withdraw":
            entry = services.stake_withdraw(contributor=contributor)
        else:
            serializer = AmountInSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            service = services.stake_add if self.stake_action == "stake" else services.stake_remove
            entry = service(contributor=contributor, amount=serializer.validated_data["amount"])
        body = {"entry_id": entry.id, "kind": entry.kind, "amount": str(entry.amount), **_wallet_json(contributor)}
        return Response(body, status=status.HTTP_201_CREATED)


class EpochApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, epoch):
        s = selectors.settlement_for(epoch=epoch)
        return Response(
            {
                "epoch": s.epoch,
                "policy": s.policy_name,
                "params": s.policy_params,
                "payouts_root": s.payouts_root,
                "payout_count": s.payout_count,
                "contributors": s.contributors,
                **{name: str(getattr(s, name)) for name in ("emission", "carried_in", "budget", "paid", "carry_over", "slashed", "fees_collected")},
                "settled_at": s.settled_at,
            }
        )


class ProofApi(APIView):
    """The caller's Merkle proof for an epoch: check it with
    `python -m simulator.economy verify-proof proof.json --root PAYOUTS_ROOT`."""

    @extend_schema(responses=dict)
    def get(self, request, epoch):
        wallet = selectors.wallet_for(contributor=contributor_for(user=request.user))
        if wallet is None:
            raise errors.NoPayout(f"you have no wallet, so no payout in epoch {epoch}")
        return Response(selectors.payout_proof(account=wallet, epoch=epoch))
