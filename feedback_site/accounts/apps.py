from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "feedback_site.accounts"
    label = "accounts"
