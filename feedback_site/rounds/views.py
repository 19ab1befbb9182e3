"""The rounds page of a Datanet (start a generation job; each round's generation, judging, training and
attribution) and a generation job's page (live progress, cancel, retry)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.annotation.models import Datanet
from feedback_site.core import errors, jobs
from feedback_site.core.job_views import job_action

from . import selectors, services
from .forms import GenerationJobForm


@role_required(Role.ML_ENGINEER)
def rounds(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    form = GenerationJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.generation_job_create(datanet=datanet, created_by=request.user, **form.job_arguments())
        except errors.ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Generation job {job.id} queued on the {job.queue} queue.")
            return redirect("generation_job", job_id=job.id)
    return render(request, "rounds/rounds.html", {"datanet": datanet, "form": form,
                                                  "rounds": selectors.rounds_of(datanet=datanet)})


def _job(job_id: int):
    job = selectors.generation_job_get(job_id=job_id)
    if job is None:
        raise Http404("No such generation job.")
    return job


def _job_context(job):
    return {"job": job, "worker_lost": jobs.job_worker_lost(job)}


@role_required(Role.ML_ENGINEER)
def job_detail(request, job_id):
    return render(request, "rounds/job.html", _job_context(_job(job_id)))


@role_required(Role.ML_ENGINEER)
def job_progress(request, job_id):
    return render(request, "rounds/_progress.html", _job_context(_job(job_id)))


@require_POST
@role_required(Role.ML_ENGINEER)
def job_cancel(request, job_id):
    return job_action(request, services.generation_job_cancel, _job(job_id), page="generation_job")


@require_POST
@role_required(Role.ML_ENGINEER)
def job_retry(request, job_id):
    job = _job(job_id)
    return job_action(request, services.generation_job_retry, job, page="generation_job",
                      success=f"Job {job.id} queued again; it skips the prompts it finished.")
