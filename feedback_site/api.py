"""Project-wide REST framework glue: service errors become JSON answers with their own status."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from feedback_site.annotation.errors import ImportRejected, ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        body = {"error": exc.code, "detail": exc.message}
        if isinstance(exc, ImportRejected):
            body["detail"] = f"Import refused, nothing was stored: {len(exc.problems)} problem(s)."
            body["problems"] = [p.as_dict() for p in exc.problems[:1000]]
        return Response(body, status=exc.status)
    return drf_exception_handler(exc, context)
