"""Shows a figure from a quality report: its value, or a dash with the reason it could not be computed (never NaN)."""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def figure(entry, digits: int = 2):
    if not isinstance(entry, dict):
        return "—"
    value = entry.get("value")
    if value is None:
        return format_html('<span class="muted" title="{}">n/a</span> <small class="muted">{}</small>', entry.get("reason") or "", entry.get("reason") or "")
    ci = entry.get("ci95")
    text = f"{value:.{int(digits)}f}"
    if ci:
        text += f" [{ci[0]:.{int(digits)}f}, {ci[1]:.{int(digits)}f}]"
    return text
