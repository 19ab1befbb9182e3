from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "feedback_site.annotation"
    label = "annotation"
