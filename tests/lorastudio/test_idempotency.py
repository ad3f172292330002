"""The one mechanism behind confirm tokens and Idempotency-Keys (lorastudio.idempotency)."""

import pytest
import time_machine
from django.utils import timezone

from lorastudio import audit
from lorastudio.errors import Refusal
from lorastudio.idempotency import KeyReused, Outcome, fingerprint, prune_keys, spend_once
from lorastudio.models import AuditEvent, IdempotencyKey


def test_a_key_starts_its_work_once_and_then_answers_with_what_it_started(user):
    started = []

    def start():
        started.append(1)
        return Outcome(label=f"Run #{len(started)}", url="/runs/1/")

    first = spend_once(user=user, key="k", fingerprint=fingerprint("run", [1]), start=start)
    again = spend_once(user=user, key="k", fingerprint=fingerprint("run", [1]), start=start)
    assert (first.first, again.first) == (True, False)
    assert again.outcome.label == "Run #1" and again.outcome.url == "/runs/1/"
    assert started == [1]


def test_the_same_key_for_something_else_is_refused(user):
    spend_once(user=user, key="k", fingerprint="a", start=lambda: Outcome(label="Run #1"))
    with pytest.raises(KeyReused, match="already used for another request, which started Run #1"):
        spend_once(user=user, key="k", fingerprint="b", start=lambda: Outcome(label="Run #2"))


def test_a_refusal_rolls_the_key_back_with_the_work_and_keeps_only_its_record(user):
    def refuse():
        audit.record(AuditEvent.Action.RUN_LAUNCHED, "Run #1 launched", actor=user)
        audit.record_refusal(AuditEvent.Action.RUN_REFUSED, "No money left.", actor=user)
        raise Refusal("No money left.")

    with pytest.raises(Refusal):
        spend_once(user=user, key="k", fingerprint="a", start=refuse)
    assert not IdempotencyKey.objects.exists()
    runs = AuditEvent.objects.filter(action__startswith="run.")
    assert list(runs.values_list("summary", flat=True)) == ["No money left."]


def test_keys_are_forgotten_after_thirty_days(user):
    spend_once(user=user, key="old", fingerprint="a", start=lambda: Outcome(label="Run #1"))
    with time_machine.travel(timezone.now() + timezone.timedelta(days=31)):
        spend_once(user=user, key="new", fingerprint="a", start=lambda: Outcome(label="Run #2"))
        assert prune_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_the_pruning_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "lorastudio.tasks.prune_idempotency_keys" in tasks
