"""Samples: the reference suite as the trainer renders it while it trains, kept per step so
the job page shows the LoRA learning (the simulator emits them too)."""

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from generation import downloads
from generation.models import ProviderCall
from generation.providers import get_provider

from .models import TrainingJob, TrainingSample

log = logging.getLogger(__name__)


def keep_samples(call: ProviderCall, samples) -> int:
    """Sample handler of training calls: store the samples not kept yet; how many were new.
    A sample that cannot be fetched is logged and skipped: the next poll offers it again."""
    job = TrainingJob.objects.filter(call=call).first()
    if job is None:
        return 0
    have = set(job.samples.values_list("step", "shot"))
    kept = 0
    for sample in samples:
        if (sample.step, sample.shot) in have:
            continue
        try:
            content = sample.content or downloads.fetch(
                sample.url,
                hosts=get_provider(call.provider).download_hosts,
                max_bytes=settings.MAX_DOWNLOAD_BYTES,
            )
        except downloads.DownloadError as exc:
            log.warning("Sample at step %s of job %s not fetched: %s", sample.step, job.id, exc)
            continue
        row = TrainingSample(job=job, step=sample.step, shot=sample.shot)
        row.image.save(
            f"job{job.id}-{sample.step}-{sample.shot}.png", ContentFile(content), save=False
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:  # another poll kept it first
            row.image.delete(save=False)
            continue
        have.add((sample.step, sample.shot))
        kept += 1
    return kept
