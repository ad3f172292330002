"""Telling people a training has ended: a notification in the app (listed in the nav) and
an e-mail through Django's mail settings (EMAIL_URL)."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from .models import Notification, TrainingJob

log = logging.getLogger(__name__)


def training_ended(job: TrainingJob) -> Notification | None:
    """Notify whoever started the job, in the app and by e-mail when they have an address."""
    user = job.created_by
    if user is None:
        return None
    if job.status == TrainingJob.Status.SUCCEEDED:
        lora = job.lora
        title = f"{job.character.name}: LoRA v{lora.version} is ready"
        body = (
            f"Training #{job.id} on {job.get_provider_display()} finished. Generate its "
            "reference set to check it, then approve it."
        )
        level = Notification.Level.SUCCESS
    elif job.status == TrainingJob.Status.CANCELED:
        title = f"{job.character.name}: training #{job.id} was canceled"
        body = "Nothing more will be billed for it."
        level = Notification.Level.INFO
    else:
        title = f"{job.character.name}: training #{job.id} failed"
        reason = job.error or "no reason given"
        body = f"The provider said: {reason}. Check the settings and train again."
        level = Notification.Level.ERROR
    notification = Notification.objects.create(
        user=user, level=level, title=title, body=body, url=job.get_absolute_url()
    )
    if user.email:
        link = f"{settings.PUBLIC_BASE_URL}{notification.url}" if settings.PUBLIC_BASE_URL else ""
        try:
            send_mail(
                subject=f"[LoRA Studio] {title}",
                message=f"{body}\n\n{link}".strip(),
                from_email=None,
                recipient_list=[user.email],
            )
        except (smtplib.SMTPException, OSError) as exc:
            # The in-app notification still stands; the page shows the mail failed.
            log.warning("Could not e-mail %s about training %s: %s", user.email, job.id, exc)
            notification.email_error = f"{exc.__class__.__name__}: {exc}"[:300]
        else:
            notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at", "email_error", "updated_at"])
    return notification


def unread_for(user):
    return Notification.objects.filter(user=user, read_at__isnull=True)


def mark_all_read(*, user) -> int:
    return unread_for(user).update(read_at=timezone.now())


def run_awaits_approval(run) -> list[Notification]:
    """Tell every lead (and admin) that a run above the approval threshold waits for them."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    leads = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="manage_budgets")
            | Q(user_permissions__codename="manage_budgets")
        )
        .distinct()
    )
    who = run.created_by.get_username() if run.created_by else "someone"
    title = f"{run.character.name}: run #{run.id} (${run.estimated_cost:.2f}) waits for approval"
    body = f"{who} launched it above the approval threshold. Approve it or decline it."
    url = f"/runs/{run.id}/"
    return [
        Notification.objects.create(
            user=lead, level=Notification.Level.INFO, title=title, body=body, url=url
        )
        for lead in leads
    ]
