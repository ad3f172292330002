"""The Celery application: broker and settings come from Django settings (CELERY_*)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lorastudio.settings")

app = Celery("lorastudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def keep_usable_connections(sender=None, **kwargs) -> None:
    """A worker's database connections live between tasks as a web process's live between
    requests: closed only when broken, past CONN_MAX_AGE or left in a transaction. Celery's
    own fix-up closes them around every task (CELERY_DB_REUSE_MAX turns that off), and a
    fresh connection costs each submit, poll and download a few milliseconds more.

    Not for a task run eagerly: it runs inside its caller, whose connection is not ours."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
