from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "feedback_site.training"
    label = "training"
