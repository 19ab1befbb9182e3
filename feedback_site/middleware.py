"""Middleware of the site's own."""

from django.contrib.messages.middleware import MessageMiddleware


class PageMessageMiddleware(MessageMiddleware):
    """Django's flash messages, for pages only. The REST API never shows them, and setting up their
    storage on every API request was a measurable share of a judging request (benchmarks/bench_load.py)."""

    def process_request(self, request):
        if not request.path_info.startswith("/api/"):
            super().process_request(request)
