"""REST API (token or session auth). Thin: validate, call a service or selector, serialise."""

from contextlib import contextmanager

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import (
    AuthenticationFailed,
    ParseError,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.parsers import FileUploadParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback_site.accounts.authentication import JudgingTokenAuthentication, UncheckedToken
from feedback_site.accounts.permissions import api_role, api_role_or_token_checked_in_sql
from feedback_site.accounts.roles import Role

from . import errors, selectors, services
from .models import Datanet, Snapshot
from .views import jsonl_export_response


class DatanetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Datanet
        fields = ["name", "slug", "domain", "guidelines", "overlap", "gold_rate", "max_pending", "lock_minutes"]
        read_only_fields = ["slug"]


class JudgmentInSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=["A", "B", "tie", "both_bad"], help_text="As shown: A is the left response.")
    strength = serializers.ChoiceField(choices=[1, 2, 3], help_text="1 slightly, 2 clearly, 3 much.")
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    edited_reply = serializers.CharField(required=False, allow_blank=True, default="")
    time_spent_ms = serializers.IntegerField(min_value=0)
    idempotency_key = serializers.CharField(required=False, max_length=64, allow_null=True, default=None)


class JudgmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    comparison_id = serializers.IntegerField()
    choice = serializers.CharField(help_text="In the comparison's own terms (a/b), see shown_left.")
    shown_left = serializers.CharField()
    strength = serializers.IntegerField()
    revision_of = serializers.IntegerField(source="revision_of_id", allow_null=True)
    submitted_at = serializers.DateTimeField()


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="assignment.id")
    prompt = serializers.CharField()
    left = serializers.CharField(help_text="Response shown as A.")
    right = serializers.CharField(help_text="Response shown as B.")
    expires_at = serializers.DateTimeField(source="assignment.expires_at")


class SnapshotSerializer(serializers.ModelSerializer):
    datanet = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Snapshot
        fields = ["id", "datanet", "content_hash", "cutoff_judgment_id", "counts", "metadata", "created_at"]


FLAG_VALUES = {"": False, "0": False, "false": False, "no": False, "off": False,
               "1": True, "true": True, "yes": True, "on": True}


def _flag(value, name: str) -> bool:
    """A yes/no request parameter; anything but the usual spellings is refused, naming the parameter."""
    if value is None or isinstance(value, bool):
        return bool(value)
    try:
        return FLAG_VALUES[str(value).strip().lower()]
    except KeyError:
        raise errors.InvalidInput(f"{name}: must be true or false, got {value!r}") from None


def _datanet(slug) -> Datanet:
    datanet = selectors.datanet_by_slug(slug=slug)
    if datanet is None:
        raise Http404("No Datanet matches the given query.")
    return datanet


class DatanetListApi(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), api_role(Role.ML_ENGINEER)()]
        return [IsAuthenticated()]

    @extend_schema(responses=DatanetSerializer(many=True))
    def get(self, request):
        return Response(DatanetSerializer(selectors.datanets_visible_to(user=request.user), many=True).data)

    @extend_schema(request=DatanetSerializer, responses={201: DatanetSerializer})
    def post(self, request):
        serializer = DatanetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        datanet = services.datanet_create(**serializer.validated_data, created_by=request.user)
        return Response(DatanetSerializer(datanet).data, status=status.HTTP_201_CREATED)


class DatanetImportApi(APIView):
    """Upload JSONL as the raw body (Content-Type: application/x-ndjson) or as a multipart `file`."""

    permission_classes = [IsAuthenticated, api_role(Role.ML_ENGINEER)]
    parser_classes = [MultiPartParser, FileUploadParser]

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
        parameters=[OpenApiParameter("skip_invalid", bool, description="Import the valid lines and list each line left out, instead of refusing the file.")],
        responses={201: inline_serializer("ImportResult", {
            "prompts_created": serializers.IntegerField(), "comparisons_created": serializers.IntegerField(),
            "skipped": serializers.ListField(child=serializers.DictField(), help_text="each line left out: line, field, message"),
        })},
    )
    def post(self, request, slug):
        datanet = _datanet(slug)
        upload = request.data.get("file")
        if upload is None:
            raise errors.InvalidInput("file: send the JSONL as a multipart field 'file' or as the request body")
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise errors.InvalidInput(f"file: {upload.size} bytes is over the upload limit of {settings.IMPORT_MAX_UPLOAD_BYTES} bytes")
        skip_invalid = _flag(request.query_params.get("skip_invalid", request.data.get("skip_invalid")), "skip_invalid")
        batch = services.datanet_import(
            datanet=datanet, stream=upload, filename=getattr(upload, "name", ""), origin="api", created_by=request.user,
            skip_invalid=skip_invalid,
        )
        return Response(
            {"prompts_created": batch.prompts_created, "comparisons_created": batch.comparisons_created,
             "skipped": batch.skipped},
            status=status.HTTP_201_CREATED,
        )


class DatanetMemberApi(APIView):
    permission_classes = [IsAuthenticated, api_role(Role.ML_ENGINEER)]
    parser_classes = [JSONParser]

    @extend_schema(request=inline_serializer("MemberIn", {"username": serializers.CharField()}), responses={204: None})
    def post(self, request, slug):
        datanet = _datanet(slug)
        user = selectors.user_by_username(username=request.data.get("username", ""))
        if user is None:
            raise errors.NotFound("username: no such user")
        services.datanet_member_add(datanet=datanet, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@contextmanager
def _token_checked_by_service():
    """The judging services check an UncheckedToken and its role themselves; their refusals answer as REST
    framework's own checks would (401 with the authenticate header, 403, 404)."""
    try:
        yield
    except errors.TokenRejected as exc:
        raise AuthenticationFailed(exc.message) from None
    except errors.RoleMissing as exc:
        raise PermissionDenied(exc.message) from None
    except errors.NotFound as exc:   # the Datanet named in the URL
        raise Http404(exc.message) from None


# The judging loop: on PostgreSQL a token reaches these views unchecked (an UncheckedToken, which passes no
# other check) and is checked in the same round trip as the work, by the judging services they call.
JUDGING_AUTHENTICATION = [JudgingTokenAuthentication, SessionAuthentication]
JUDGING_PERMISSIONS = [api_role_or_token_checked_in_sql(Role.ANNOTATOR)]


class NextComparisonApi(APIView):
    authentication_classes = JUDGING_AUTHENTICATION
    permission_classes = JUDGING_PERMISSIONS
    checks_token_in_sql = True  # every UncheckedToken goes to assignment_next_with_token

    @extend_schema(responses={200: AssignmentSerializer, 204: None})
    def get(self, request, slug):
        if isinstance(request.user, UncheckedToken):
            with _token_checked_by_service():
                assignment = services.assignment_next_with_token(
                    token=request.user.key, role=Role.ANNOTATOR.value, datanet_slug=slug)
        else:
            assignment = services.assignment_next(annotator=request.user, datanet=_datanet(slug))
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentSerializer(selectors.assignment_for_display(assignment=assignment)).data)


# What reading a judgment's body can refuse (400, 415) before the service runs.
BODY_REFUSALS = (ParseError, UnsupportedMediaType, ValidationError)


def _judgment_fields(request) -> dict:
    data = JudgmentInSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class SubmitJudgmentApi(APIView):
    authentication_classes = JUDGING_AUTHENTICATION
    permission_classes = JUDGING_PERMISSIONS
    checks_token_in_sql = True  # every UncheckedToken goes to judgment_submit_with_token
    parser_classes = [JSONParser]

    @extend_schema(request=JudgmentInSerializer, responses={201: JudgmentOutSerializer})
    def post(self, request, assignment_id):
        if isinstance(request.user, UncheckedToken):
            token, role = request.user.key, Role.ANNOTATOR.value
            with _token_checked_by_service():
                # Elsewhere REST framework refuses a bad token before the body is read: answer the same here.
                with services.token_checked_before(*BODY_REFUSALS, token=token, role=role):
                    fields = _judgment_fields(request)
                judgment = services.judgment_submit_with_token(token=token, role=role, assignment_id=assignment_id,
                                                               **fields)
        else:
            judgment = services.judgment_submit(annotator=request.user, assignment_id=assignment_id,
                                                **_judgment_fields(request))
        return Response(JudgmentOutSerializer(judgment).data, status=status.HTTP_201_CREATED)


class ReviseJudgmentApi(APIView):
    permission_classes = [IsAuthenticated, api_role(Role.ANNOTATOR)]
    parser_classes = [JSONParser]

    @extend_schema(request=JudgmentInSerializer, responses={201: JudgmentOutSerializer})
    def post(self, request, judgment_id):
        judgment = services.judgment_revise(annotator=request.user, judgment_id=judgment_id, **_judgment_fields(request))
        return Response(JudgmentOutSerializer(judgment).data, status=status.HTTP_201_CREATED)


class SnapshotListApi(APIView):
    permission_classes = [IsAuthenticated, api_role(Role.ML_ENGINEER)]

    @extend_schema(responses=SnapshotSerializer(many=True))
    def get(self, request, slug):
        return Response(SnapshotSerializer(selectors.snapshots_of(datanet=_datanet(slug)), many=True).data)

    @extend_schema(
        request=inline_serializer("SnapshotIn", {"aggregation": serializers.ChoiceField(choices=["majority", "reliability", "each"], required=False)}),
        responses={201: SnapshotSerializer},
    )
    def post(self, request, slug):
        snapshot = services.snapshot_create(
            datanet=_datanet(slug), created_by=request.user, aggregation=request.data.get("aggregation", "majority")
        )
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class SnapshotExportApi(APIView):
    permission_classes = [IsAuthenticated, api_role(Role.ML_ENGINEER)]

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=["trl", "log"], description="trl preference rows (default) or the feedback log")],
        responses={(200, "application/x-ndjson"): bytes},
    )
    def get(self, request, snapshot_id):
        snapshot = get_object_or_404(Snapshot, pk=snapshot_id)
        # `format` is taken by REST framework for content negotiation, hence `kind`.
        export_format = request.query_params.get("kind", "trl")
        if export_format not in ("trl", "log"):
            raise errors.InvalidInput(f"kind: must be trl or log over the API (hf as a folder: use the site or the CLI), not {export_format!r}")
        return jsonl_export_response(
            snapshot=snapshot, export_format=export_format, filename=f"snapshot{snapshot.id}-{export_format}.jsonl"
        )


