import warnings

from django.apps import AppConfig


class TrophiesConfig(AppConfig):
    name = "trophies"
    verbose_name = "Trophies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # deform 3.0.1 imports pkg_resources, which warns on every start;
        # the pin on setuptools < 81 keeps it importable (see the README).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            from trophies.forms.rendering import configure_deform

        configure_deform()

        from trophies import signals

        signals.connect()
