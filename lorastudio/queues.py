"""Which Celery queue each task goes to: one per kind of work, so a busy one never starves
another. Provider calls (and the beat pass that drives them) on `<default>.calls`, ingest and
exports on `<default>.media`, outgoing webhooks on `<default>.webhooks`, likeness measuring
on `<default>.likeness` (consumed by the media workers), the rest (heartbeat,
housekeeping) on the default queue itself (CELERY_QUEUE). The names follow the default queue
when it is changed at run time (tests give each run a queue of its own).
"""

GROUPS = ("calls", "media", "webhooks", "likeness")
# A task name, or a module prefix ending in ".", and its group.
ROUTES = {
    "generation.tasks.": "calls",
    "training.tasks.sync_training_jobs": "calls",
    "datasets.tasks.": "media",
    "training.tasks.deliver_webhook": "webhooks",
    "training.tasks.build_pin_pack": "media",
    "characters.tasks.": "likeness",
}


def queue_names(default: str) -> dict[str, str]:
    """Every group's queue name, for a default queue."""
    return {group: f"{default}.{group}" for group in GROUPS}


def group_of(task_name: str) -> str | None:
    for prefix, group in ROUTES.items():
        if task_name == prefix or (prefix.endswith(".") and task_name.startswith(prefix)):
            return group
    return None


def route(name, args, kwargs, options, task=None, **kw):
    """Celery router (task_routes): the queue of a task's group, or the default queue."""
    from lorastudio.celery import app

    group = group_of(name)
    if group is None:
        return None
    return {"queue": queue_names(app.conf.task_default_queue)[group]}
