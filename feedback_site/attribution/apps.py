from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "feedback_site.attribution"
    label = "attribution"
