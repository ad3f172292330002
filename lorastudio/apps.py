from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, **kwargs):
    # The data migration makes the roles; a flushed test database gets them back here.
    from .roles import ensure_roles

    ensure_roles()


class LoraStudioConfig(AppConfig):
    name = "lorastudio"
    verbose_name = "LoRA Studio"

    def ready(self):
        from . import audit

        audit.connect()
        post_migrate.connect(_ensure_roles, sender=self)
