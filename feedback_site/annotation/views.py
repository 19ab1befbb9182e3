"""HTML pages. Each view checks the role and input, calls one service or selector, and renders."""

import io
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path

import markdown
import nh3
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role, user_has_role

from . import errors, selectors, services
from .exports import EXPORT_FORMATS, snapshot_export
from .forms import DatanetForm, ImportForm, JudgmentForm, MemberForm
from .models import Datanet, Snapshot


def render_guidelines(text: str) -> str:
    return nh3.clean(markdown.markdown(text or "", extensions=["extra"]))


def healthz(request):
    """For load balancers: answers without touching the database."""
    return HttpResponse("ok", content_type="text/plain")


@login_required
def home(request):
    datanets = selectors.datanets_visible_to(user=request.user)
    return render(request, "annotation/home.html", {"datanets": datanets})


@role_required(Role.ML_ENGINEER)
def datanet_create(request):
    form = DatanetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            datanet = services.datanet_create(**form.cleaned_data, created_by=request.user)
        except errors.ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Datanet {datanet.name} created. Now import prompts and responses.")
            return redirect("datanet_detail", slug=datanet.slug)
    return render(request, "annotation/datanet_form.html", {"form": form})


def _visible_datanet(request, slug) -> Datanet:
    datanet = get_object_or_404(Datanet, slug=slug)
    if not selectors.datanet_can_view(user=request.user, datanet=datanet):
        raise PermissionDenied(f"You are not a member of Datanet {datanet.name!r}.")
    return datanet


@login_required
def datanet_detail(request, slug):
    datanet = _visible_datanet(request, slug)
    engineer = user_has_role(request.user, Role.ML_ENGINEER)
    context = {
        "datanet": datanet,
        "guidelines_html": render_guidelines(datanet.guidelines),
        "is_member": selectors.datanet_is_member(user=request.user, datanet=datanet),
        "my_progress": selectors.annotator_progress(annotator=request.user, datanet=datanet),
    }
    if engineer:
        context.update(
            selectors.datanet_engineer_view(datanet=datanet),
            import_form=ImportForm(),
            member_form=MemberForm(),
            export_formats=EXPORT_FORMATS,
        )
    return render(request, "annotation/datanet_detail.html", context)


@require_POST
@role_required(Role.ML_ENGINEER)
def datanet_import(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a JSONL file to import.")
        return redirect("datanet_detail", slug=slug)
    upload = form.cleaned_data["file"]
    if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
        messages.error(
            request, f"{upload.name}: {upload.size} bytes is over the upload limit of {settings.IMPORT_MAX_UPLOAD_BYTES} bytes. Nothing was imported."
        )
        return redirect("datanet_detail", slug=slug)
    try:
        batch = services.datanet_import(
            datanet=datanet, stream=upload, filename=upload.name, origin="upload", created_by=request.user,
            skip_invalid=form.cleaned_data["skip_invalid"],
        )
    except errors.ImportRejected as exc:
        return render(
            request,
            "annotation/import_rejected.html",
            {"datanet": datanet, "filename": upload.name, "problems": exc.problems[:500], "total": len(exc.problems)},
            status=400,
        )
    messages.success(
        request, f"Imported {upload.name}: {batch.prompts_created} prompts, {batch.comparisons_created} comparisons."
    )
    if batch.skipped:
        lines = len({problem["line"] for problem in batch.skipped})
        messages.warning(request, f"{lines} invalid line(s) were left out; the imports table lists each one.")
    return redirect("datanet_detail", slug=slug)


@require_POST
@role_required(Role.ML_ENGINEER)
def datanet_member_add(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    form = MemberForm(request.POST)
    user = None
    if form.is_valid():
        user = selectors.user_by_username(username=form.cleaned_data["username"])
    if user is None:
        messages.error(request, "No user with that username.")
    else:
        services.datanet_member_add(datanet=datanet, user=user)
        messages.success(request, f"{user.username} can now judge in {datanet.name}.")
    return redirect("datanet_detail", slug=slug)


@require_POST
@role_required(Role.ML_ENGINEER)
def snapshot_create(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    try:
        snapshot = services.snapshot_create(
            datanet=datanet, created_by=request.user, aggregation=request.POST.get("aggregation", "majority")
        )
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Snapshot {snapshot.id} frozen: {snapshot.counts['trl_rows']} preference rows, hash {snapshot.content_hash[:12]}.")
    return redirect("datanet_detail", slug=slug)


@role_required(Role.ML_ENGINEER)
def snapshot_download(request, snapshot_id, export_format):
    snapshot = get_object_or_404(Snapshot.objects.select_related("datanet"), pk=snapshot_id)
    if export_format not in EXPORT_FORMATS:
        return HttpResponse(f"Unknown format {export_format!r}: use one of {', '.join(EXPORT_FORMATS)}.", status=400)
    stem = f"{snapshot.datanet.slug}-snapshot{snapshot.id}"
    if export_format == "hf":
        tmp = Path(tempfile.mkdtemp(prefix="ledgerloop-export-"))
        folder = snapshot_export(snapshot=snapshot, export_format="hf", out=tmp / stem)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, Path(stem) / path.relative_to(folder))
        shutil.rmtree(tmp, ignore_errors=True)
        archive.seek(0)
        return FileResponse(archive, as_attachment=True, filename=f"{stem}-hf.zip")
    return jsonl_export_response(snapshot=snapshot, export_format=export_format, filename=f"{stem}-{export_format}.jsonl")


def jsonl_export_response(*, snapshot, export_format: str, filename: str) -> FileResponse:
    """Streams a JSONL export of the snapshot as a download (the site's page and the API both use it)."""
    tmp = Path(tempfile.mkdtemp(prefix="ledgerloop-export-"))
    path = snapshot_export(snapshot=snapshot, export_format=export_format, out=tmp / filename)
    # The file is unlinked at once; the open handle keeps it readable until the response is sent.
    handle = path.open("rb")
    shutil.rmtree(tmp, ignore_errors=True)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/x-ndjson")


# Judging ----------------------------------------------------------------------------------------


def _member_datanet(request, slug) -> Datanet:
    datanet = get_object_or_404(Datanet, slug=slug)
    if not selectors.datanet_is_member(user=request.user, datanet=datanet):
        raise PermissionDenied(f"You are not a member of Datanet {datanet.name!r}.")
    return datanet


def _comparison_panel(request, datanet, *, notice: str = "", status: int = 200):
    try:
        assignment = services.assignment_next(annotator=request.user, datanet=datanet)
    except errors.TooManyPending as exc:
        return render(request, "annotation/_done.html", {"datanet": datanet, "notice": exc.message}, status=status)
    context = {
        "datanet": datanet,
        "notice": notice,
        "progress": selectors.annotator_progress(annotator=request.user, datanet=datanet),
        "can_revise": selectors.judgment_latest_for(annotator=request.user, datanet=datanet) is not None,
    }
    if assignment is None:
        return render(request, "annotation/_done.html", context, status=status)
    context.update(selectors.assignment_for_display(assignment=assignment))
    context.update(idempotency_key=uuid.uuid4().hex, action="submit", form_choice="", form_strength=2)
    return render(request, "annotation/_comparison.html", context, status=status)


@role_required(Role.ANNOTATOR)
def judge(request, slug):
    datanet = _member_datanet(request, slug)
    return render(
        request,
        "annotation/judge.html",
        {"datanet": datanet, "guidelines_html": render_guidelines(datanet.guidelines)},
    )


@role_required(Role.ANNOTATOR)
def judge_next(request, slug):
    return _comparison_panel(request, _member_datanet(request, slug))


def _judgment_payload(form: JudgmentForm) -> dict:
    data = form.cleaned_data
    return {
        "choice": data["choice"],
        "strength": data["strength"],
        "rationale": data["rationale"],
        "edited_reply": data["edited_reply"],
        "time_spent_ms": data["time_spent_ms"] or 0,
        "idempotency_key": data["idempotency_key"] or None,
    }


@require_POST
@role_required(Role.ANNOTATOR)
def judge_submit(request, slug, assignment_id):
    datanet = _member_datanet(request, slug)
    form = JudgmentForm(request.POST)
    if not form.is_valid():
        return _comparison_panel(request, datanet, notice="Choose A, B, tie or both bad, and a strength.", status=400)
    try:
        services.judgment_submit(annotator=request.user, assignment_id=assignment_id, **_judgment_payload(form))
    except errors.ServiceError as exc:
        return _comparison_panel(request, datanet, notice=exc.message, status=exc.status)
    return _comparison_panel(request, datanet, notice="Saved.")


@role_required(Role.ANNOTATOR)
def judge_revise(request, slug):
    """GET: the annotator's last judgment in a form; POST: its revision (a new row)."""
    datanet = _member_datanet(request, slug)
    last = selectors.judgment_latest_for(annotator=request.user, datanet=datanet)
    if last is None:
        return _comparison_panel(request, datanet, notice="Nothing to revise yet.")
    if request.method == "POST":
        form = JudgmentForm(request.POST)
        if not form.is_valid():
            return _comparison_panel(request, datanet, notice="Choose A, B, tie or both bad, and a strength.", status=400)
        try:
            services.judgment_revise(annotator=request.user, judgment_id=last.id, **_judgment_payload(form))
        except errors.ServiceError as exc:
            return _comparison_panel(request, datanet, notice=exc.message, status=exc.status)
        return _comparison_panel(request, datanet, notice="Revision saved; your earlier answer is kept in the history.")
    context = selectors.assignment_for_display(assignment=last.assignment)
    context.update(
        datanet=datanet,
        action="revise",
        revising=last,
        history=selectors.judgment_history(judgment=last),
        idempotency_key=uuid.uuid4().hex,
        form_choice=last.choice_as_shown,
        form_strength=last.strength,
        form_rationale=last.rationale,
        form_edited_reply=last.edited_reply,
        progress=selectors.annotator_progress(annotator=request.user, datanet=datanet),
        can_revise=False,
        expires_in_s=None,
    )
    return render(request, "annotation/_comparison.html", context)


@login_required
def my_judgments(request):
    judgments = selectors.judgments_of(annotator=request.user)
    return render(request, "annotation/my_judgments.html", {"judgments": judgments, "now": timezone.now()})
