"""Inference REST API for consumers (token or session auth; the caller needs a funded consumer account).

Every answer names the model version that served it and the fee charged, in base units as a string
(10**18 per OPEN). The idempotency key comes in the body or the `Idempotency-Key` header: repeating a
request with its key returns the stored answer (200, "replayed": true) and is never charged twice."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .models import InferenceCall

KEY_HELP = "Your id for this call (or the Idempotency-Key header); a retry with it is answered, not charged, again."


class ScoreInSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField(help_text="A published reward-model version.")
    prompt = serializers.CharField(trim_whitespace=False)
    replies = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                    help_text="One reply to score, or two (a pair) or more.")
    idempotency_key = serializers.CharField(required=False, help_text=KEY_HELP)


class GenerateInSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField(help_text="A published DPO policy version.")
    prompt = serializers.CharField(trim_whitespace=False)
    max_tokens = serializers.IntegerField(help_text="Most tokens to generate; the model's context bounds it.")
    temperature = serializers.FloatField(default=1.0, help_text="0 is greedy; at most 2.")
    seed = serializers.IntegerField(default=0, help_text="Sampling seed: the same seed gives the same reply.")
    idempotency_key = serializers.CharField(required=False, help_text=KEY_HELP)


CALL_OUT = inline_serializer("InferenceOut", {
    "call_id": serializers.IntegerField(), "model_version": serializers.DictField(),
    "fee": serializers.CharField(help_text="Base units charged for this call."),
    "tokens_in": serializers.IntegerField(), "tokens_out": serializers.IntegerField(),
    "replayed": serializers.BooleanField(), "result": serializers.DictField(),
})


def call_json(call: InferenceCall, *, replayed: bool) -> dict:
    return {
        "call_id": call.id,
        "model_version": {"id": call.model_version_id, "name": call.model_version.name},
        "fee": str(call.fee),
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "replayed": replayed,
        "result": call.response,
    }


def _validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    data["idempotency_key"] = data.get("idempotency_key") or request.headers.get("Idempotency-Key")
    return data


def _answer(call: InferenceCall, replayed: bool) -> Response:
    return Response(call_json(call, replayed=replayed), status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)


class ScoreApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=ScoreInSerializer, responses={201: CALL_OUT, 200: CALL_OUT})
    def post(self, request):
        data = _validated(ScoreInSerializer, request)
        call, replayed = services.inference_score(
            user=request.user, version_id=data["model_version_id"], prompt=data["prompt"], replies=data["replies"],
            idempotency_key=data["idempotency_key"],
        )
        return _answer(call, replayed)


class GenerateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=GenerateInSerializer, responses={201: CALL_OUT, 200: CALL_OUT})
    def post(self, request):
        data = _validated(GenerateInSerializer, request)
        call, replayed = services.inference_generate(
            user=request.user, version_id=data["model_version_id"], prompt=data["prompt"],
            max_tokens=data["max_tokens"], temperature=data["temperature"], seed=data["seed"],
            idempotency_key=data["idempotency_key"],
        )
        return _answer(call, replayed)
