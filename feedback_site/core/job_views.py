"""What a job page's cancel and retry buttons do, for every kind of worker job: the service acts, a refusal
becomes the page's error message, and the browser goes back to the job's page."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from feedback_site.core import errors


def job_action(request: HttpRequest, action: Callable[..., object], job, *, page: str,
               success: str = "") -> HttpResponse:
    try:
        action(job=job)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if success:
            messages.success(request, success)
    return redirect(page, job_id=job.id)
