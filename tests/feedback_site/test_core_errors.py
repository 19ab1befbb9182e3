"""The errors every app raises live in `feedback_site.core.errors`; an app's own errors subclass them."""

import ast
from pathlib import Path

import pytest

import feedback_site
from feedback_site.annotation import errors as annotation_errors
from feedback_site.api import exception_handler
from feedback_site.core import errors
from feedback_site.governance import errors as governance_errors
from feedback_site.ledger import errors as ledger_errors

SITE = Path(feedback_site.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_app_reaches_into_another_apps_errors_for_the_shared_kinds():
    offenders = [
        str(path.relative_to(SITE))
        for path in SITE.rglob("*.py")
        if "annotation" not in path.relative_to(SITE).parts
        and "feedback_site.annotation.errors" in _imported_modules(path)
    ]
    assert offenders == []


@pytest.mark.parametrize("module", [annotation_errors, ledger_errors, governance_errors])
def test_every_apps_errors_are_service_errors(module):
    classes = [value for value in vars(module).values() if isinstance(value, type) and issubclass(value, Exception)]
    assert classes
    assert all(issubclass(cls, errors.ServiceError) for cls in classes)


def test_the_api_answers_any_service_error_with_its_own_body():
    response = exception_handler(errors.Conflict("Job 3 already running."), {})
    assert (response.status_code, response.data) == (409, {"error": "conflict", "detail": "Job 3 already running."})
    problem = type("Problem", (), {"as_dict": lambda self: {"line": 2, "field": "chosen", "message": "missing"},
                                   "describe": lambda self, filename="": "line 2: chosen: missing"})()
    rejected = exception_handler(annotation_errors.ImportRejected([problem], "a.jsonl"), {})
    assert rejected.status_code == 400
    assert rejected.data["problems"] == [{"line": 2, "field": "chosen", "message": "missing"}]
