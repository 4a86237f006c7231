from django.apps import AppConfig


class QuantumLiveConfig(AppConfig):
    name = "quantumlive"

    def ready(self):
        # Token revocation's signals (a token deleted, a user deactivated) in every process,
        # manage.py commands included, not only where the API's URLconf was loaded.
        from quantumlive import auth  # noqa: F401
