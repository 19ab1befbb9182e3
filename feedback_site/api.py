"""Project-wide REST framework glue: service errors become JSON answers with their own status."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from feedback_site.core.errors import ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(exc.as_body(), status=exc.status)
    return drf_exception_handler(exc, context)
