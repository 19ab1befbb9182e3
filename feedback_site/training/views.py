"""Training pages: launch a job, watch it live (htmx polling), cancel or retry it, compare model versions."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.core import errors
from feedback_site.core.job_views import job_action

from . import selectors, services
from .charts import loss_chart_svg
from .forms import JobForm


@role_required(Role.ML_ENGINEER)
def jobs(request):
    form = JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        snapshot, method, base_model = data.pop("snapshot"), data.pop("method"), data.pop("base_model")
        try:
            job = services.training_job_create(snapshot=snapshot, method=method, base_model=base_model, params=data, created_by=request.user)
        except errors.ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Job {job.id} queued on the {job.queue} queue.")
            return redirect("training_job", job_id=job.id)
    return render(request, "training/jobs.html", {"form": form, "jobs": selectors.jobs_recent()})


def _job(job_id: int):
    job = selectors.job_get(job_id=job_id)
    if job is None:
        raise Http404("No such training job.")
    return job


def _job_context(job):
    return {"job": job, "worker_lost": services.training_job_worker_lost(job), "loss_chart": loss_chart_svg(job.loss_history)}


@role_required(Role.ML_ENGINEER)
def job_detail(request, job_id):
    job = _job(job_id)
    return render(request, "training/job.html", _job_context(job))


@role_required(Role.ML_ENGINEER)
def job_progress(request, job_id):
    job = _job(job_id)
    return render(request, "training/_progress.html", _job_context(job))


@require_POST
@role_required(Role.ML_ENGINEER)
def job_cancel(request, job_id):
    return job_action(request, services.training_job_cancel, _job(job_id), page="training_job")


@require_POST
@role_required(Role.ML_ENGINEER)
def job_retry(request, job_id):
    job = _job(job_id)
    return job_action(request, services.training_job_retry, job, page="training_job",
                      success=f"Job {job.id} queued again; it resumes from its last checkpoint.")


@role_required(Role.ML_ENGINEER)
def registry(request):
    return render(request, "training/registry.html", {"versions": selectors.versions_registered()})


@role_required(Role.ML_ENGINEER)
def compare(request):
    ids = [int(i) for i in request.GET.getlist("v") if i.isdigit()]
    return render(request, "training/compare.html", selectors.versions_compared(version_ids=ids))
