"""Ledgerloop's Django project: the only package that knows about the database and HTTP."""

from .celery import app as celery_app

__all__ = ["celery_app"]
