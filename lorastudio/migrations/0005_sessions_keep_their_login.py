"""Logins made through Django's ModelBackend now name lorastudio's RolePermissionBackend (the
same users, their role and permissions read in one query): without this, every session of
the old name would be logged out once (Django keeps a session's user only while the backend
it names is configured). Rewrites the stored sessions' backend; the reverse names Django's
again."""

from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import migrations

OLD = "django.contrib.auth.backends.ModelBackend"
NEW = "lorastudio.permission_backend.RolePermissionBackend"


def _rename(apps, before: str, after: str) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.all().iterator(chunk_size=500):
        data = store.decode(session.session_data)
        if data.get(BACKEND_SESSION_KEY) == before:
            data[BACKEND_SESSION_KEY] = after
            session.session_data = store.encode(data)
            session.save(update_fields=["session_data"])


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("lorastudio", "0004_idempotency_keys"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
