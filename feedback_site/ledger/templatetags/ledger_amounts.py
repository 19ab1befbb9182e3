from django import template

from simulator.economy.units import base_units_to_open

register = template.Library()


@register.filter
def open_amount(base_units) -> str:
    """Base units -> exact OPEN text with thousands separators, up to 18 decimals: 1,234.5"""
    if base_units is None or base_units == "":
        return ""
    whole, _, fraction = base_units_to_open(int(base_units)).partition(".")
    sign = "-" if whole.startswith("-") else ""
    grouped = f"{sign}{int(whole.lstrip('-')):,}"
    return f"{grouped}.{fraction}" if fraction else grouped
