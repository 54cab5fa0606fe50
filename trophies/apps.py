from django.apps import AppConfig


class TrophiesConfig(AppConfig):
    name = "trophies"
    verbose_name = "Trophies"
    default_auto_field = "django.db.models.BigAutoField"
