"""Every app's pages and API read through its selectors: a view may fetch the one object its URL names
(``get_object_or_404``), and nothing else of the database (no ``.objects``, no related-manager queries)."""

import ast
from pathlib import Path

import pytest

import feedback_site

SITE = Path(feedback_site.__file__).parent
VIEW_MODULES = sorted(p for p in SITE.glob("*/*.py") if p.name in ("views.py", "api.py"))
QUERY_METHODS = {"filter", "exclude", "all", "order_by", "aggregate", "annotate", "values_list", "raw", "count"}


def database_reads(path: Path) -> list[str]:
    """`X.objects...` anywhere, and query methods called on anything but a queryset passed to get_object_or_404."""
    tree = ast.parse(path.read_text())
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "get_object_or_404":
            allowed.update(id(arg) for arg in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"line {node.lineno}: .objects")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_METHODS:
            receiver = node.func.value
            # request.POST.getlist and friends are not queries; a query hangs off a model or a related manager.
            if isinstance(receiver, ast.Attribute) and receiver.attr in ("members", "snapshots", "imports", "scores",
                                                                         "attribution_jobs", "datanets"):
                found.append(f"line {node.lineno}: .{receiver.attr}.{node.func.attr}()")
    return sorted(found, key=lambda item: int(item.split(":")[0].split()[1]))


def test_the_scan_finds_a_query_in_a_view(tmp_path):
    view = tmp_path / "views.py"
    view.write_text("def page(request, slug):\n    datanet = get_object_or_404(Datanet.objects.all(), slug=slug)\n"
                    "    rows = Judgment.objects.filter(datanet=datanet)\n    return datanet.members.filter(pk=1)\n")
    assert database_reads(view) == ["line 3: .objects", "line 4: .members.filter()"]


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(SITE)))
def test_views_and_apis_read_through_selectors(path):
    assert database_reads(path) == []
