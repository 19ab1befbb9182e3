"""Governance REST API (token or session auth): the emission policies governance can choose, and
proposals to change the one in force. A parameter set that cannot work is refused with 400 naming
the field (the economy's own validation, as the proposal form and the command line get it)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from simulator.economy.policies import POLICIES

from . import services


class ProposalInSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    policy_name = serializers.CharField(help_text="One of the policies GET /api/governance/policies/ lists.")
    policy_params = serializers.DictField(required=False, default=dict, help_text="Parameter: value; missing ones take their defaults.")
    report = serializers.IntegerField(help_text="The id of the finished simulation report behind the proposal.")
    deadline = serializers.CharField(help_text="ISO date and time the vote closes, e.g. 2026-12-01T12:00:00+00:00.")
    quorum_bps = serializers.IntegerField()
    threshold_bps = serializers.IntegerField()


class PolicyListApi(APIView):
    """Every emission policy with its version, summary and parameters (name, default, help)."""

    @extend_schema(responses=dict)
    def get(self, request):
        return Response(
            {
                "policies": [
                    {"name": spec.name, "version": spec.version, "summary": spec.summary, "parameters": spec.describe()}
                    for spec in POLICIES.values()
                ]
            }
        )


class ProposalApi(APIView):
    """Propose a policy change (governance role)."""

    parser_classes = [JSONParser]

    @extend_schema(
        request=ProposalInSerializer,
        responses={201: inline_serializer("ProposalCreated", {"id": serializers.IntegerField(), "policy_params": serializers.DictField()})},
    )
    def post(self, request):
        serializer = ProposalInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        proposal = services.proposal_create_from_fields(by=request.user, fields=serializer.validated_data)
        return Response(
            {"id": proposal.id, "policy_name": proposal.policy_name, "policy_params": proposal.policy_params},
            status=status.HTTP_201_CREATED,
        )
