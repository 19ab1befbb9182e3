from django.apps import AppConfig


class RoundsConfig(AppConfig):
    name = "feedback_site.rounds"
    label = "rounds"
    verbose_name = "Rounds of the online loop"
