"""Budgets: limits refuse a launch with the numbers, money is reserved at launch and settled
by the calls, launches at the same moment never overspend together, big runs wait for a lead."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from generation import budgets, runs
from generation.models import GenerationRun, ProviderCall
from lorastudio.models import AuditEvent, IdempotencyKey
from tests.confirm_pages import price, start
from tests.factories import UserFactory

from .conftest import wait_for

ULTRA = "fal-ai/flux-pro/v1.1-ultra"  # $0.06 an image, 4 images a call


def _plan(character, count=5):
    # 5 images of one pose: two calls (4 + 1), $0.30.
    return runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=["front"], count=count
    )


def _launch(character, user, count=5):
    return runs.launch_run(
        plan=_plan(character, count), character=character, created_by=user, params={}
    )


@pytest.fixture
def fal_key(settings):
    settings.FAL_KEY = "key"


@pytest.mark.django_db
def test_a_launch_past_the_monthly_limit_is_refused_with_the_cost_and_what_is_left(
    character, user, fal_key
):
    budgets.set_budget(by=user, monthly_limit=Decimal("0.50"))
    _launch(character, user)  # $0.30 reserved
    with pytest.raises(budgets.BudgetExceeded) as refused:
        _launch(character, user)
    assert refused.value.message.startswith("This anchor candidates run costs $0.30; $0.20 is left")
    assert GenerationRun.objects.count() == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.RUN_REFUSED)
    assert event.cost == Decimal("0.30") and event.actor == user


@pytest.mark.django_db
def test_reserved_money_is_settled_with_the_actual_cost_when_calls_end(character, user, fal_key):
    run = _launch(character, user)
    since = budgets.month_start()
    assert budgets.committed(since=since) == budgets.Committed(Decimal("0"), Decimal("0.30"))
    big, small = run.calls.order_by("-units")
    ProviderCall.objects.filter(id=big.id).update(
        status="done", external_id="a", actual_cost=Decimal("0.18")
    )
    ProviderCall.objects.filter(id=small.id).update(status="failed", actual_cost=Decimal("0"))
    assert budgets.committed(since=since) == budgets.Committed(Decimal("0.18"), Decimal("0"))


@pytest.mark.django_db
def test_a_users_own_limit_and_the_per_run_cap_refuse_too(character, user, fal_key):
    budgets.set_budget(by=user, users={user.username: Decimal("0.40")})
    _launch(character, user)
    with pytest.raises(budgets.BudgetExceeded, match=r"costs \$0.30; \$0.10 is left"):
        _launch(character, user)
    other = UserFactory(username="other", role="artist")
    _launch(character, other)  # the limit is the first user's alone
    budgets.set_budget(by=user, per_run_cap=Decimal("0.25"))
    with pytest.raises(budgets.BudgetExceeded, match="the cap for one run is"):
        _launch(character, other)


@pytest.mark.django_db
def test_the_api_answers_402_and_a_dry_run_shows_what_is_left(api, character, user, fal_key):
    budgets.set_budget(by=user, monthly_limit=Decimal("0.20"))
    body = {"kind": "anchors", "provider": "fal", "poses": ["front"], "count": 5}
    dry = api.post(
        f"/api/characters/{character.slug}/runs",
        {**body, "dry_run": True},
        content_type="application/json",
    )
    assert dry.status_code == 200
    assert Decimal(dry.json()["estimated_cost"]) == Decimal("0.30")
    assert Decimal(dry.json()["left_this_month"]) == Decimal("0.20")
    response = api.post(
        f"/api/characters/{character.slug}/runs", body, content_type="application/json"
    )
    assert response.status_code == 402
    assert response.json()["detail"].startswith(
        "This anchor candidates run costs $0.30; $0.20 is left this month."
    )
    assert Decimal(response.json()["left"]) == Decimal("0.20")


@pytest.mark.django_db
def test_the_confirm_page_shows_the_cost_and_what_is_left(logged_in, character, user, fal_key):
    budgets.set_budget(by=user, monthly_limit=Decimal("10"))
    page = price(
        logged_in,
        f"/runs/new/{character.slug}/",
        {"kind": "anchors", "provider": "fal", "poses": ["front"], "count": 5},
    )
    assert "This run costs $0.30; $10.00 is left this month." in page.content.decode()


@pytest.mark.django_db
def test_a_start_refused_by_the_budget_on_the_confirm_page_stays_in_the_audit_trail(
    logged_in, character, user, fal_key
):
    budgets.set_budget(by=user, monthly_limit=Decimal("0.20"))
    form = {"kind": "anchors", "provider": "fal", "poses": ["front"], "count": 5}
    response = start(logged_in, f"/runs/new/{character.slug}/", form, follow=True)
    assert "This anchor candidates run costs $0.30; $0.20 is left" in response.content.decode()
    assert not GenerationRun.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.RUN_REFUSED)
    assert event.cost == Decimal("0.30") and event.actor == user


@pytest.mark.django_db
def test_budgets_api_reads_and_sets_the_limits(api, character, user, fal_key):
    _launch(character, user)
    response = api.put(
        "/api/budgets",
        {"monthly_limit": "5.00", "users": [{"username": user.username, "monthly_limit": "1"}]},
        content_type="application/json",
    )
    assert response.status_code == 200
    data = api.get("/api/budgets").json()
    assert data["monthly_limit"] == "5.0000" and data["per_run_cap"] is None
    assert data["reserved"] == "0.3000" and data["left"] == "4.7000"
    mine = next(u for u in data["users"] if u["username"] == user.username)
    assert mine["monthly_limit"] == "1.0000" and mine["reserved"] == "0.3000"
    change = AuditEvent.objects.get(action=AuditEvent.Action.BUDGET_CHANGED)
    assert "monthly limit: no limit → $5.00" in change.summary and change.actor == user


@pytest.mark.django_db
def test_a_run_above_the_threshold_waits_for_a_lead_who_approves_or_declines(
    character, user, fal_key, django_capture_on_commit_callbacks
):
    from training.models import Notification

    artist = UserFactory(username="painter", role="artist")
    budgets.set_budget(by=user, approval_threshold=Decimal("0.25"))
    with django_capture_on_commit_callbacks(execute=True):
        held = _launch(character, artist)
    assert held.status == GenerationRun.Status.HELD
    assert set(held.calls.values_list("status", flat=True)) == {"held"}
    assert Notification.objects.filter(user=user, title__contains="waits for approval").exists()
    assert not Notification.objects.filter(user=artist).exists()
    assert budgets.committed(since=budgets.month_start()).reserved == Decimal("0.30")

    with pytest.raises(runs.RunRefused, match="Say why"):
        runs.decide_run(run=held, by=user, approve=False)
    runs.decide_run(run=held, by=user, approve=False, reason="too many candidates")
    held.refresh_from_db()
    assert held.status == GenerationRun.Status.CANCELED
    assert budgets.committed(since=budgets.month_start()).reserved == Decimal("0")

    second = _launch(character, artist)
    runs.decide_run(run=second, by=user, approve=True)
    second.refresh_from_db()
    assert second.status == GenerationRun.Status.PENDING
    assert set(second.calls.values_list("status", flat=True)) == {"created"}
    assert _launch(character, user).status != GenerationRun.Status.HELD  # a lead's own run
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"run.held", "run.declined", "run.approved"} <= actions


@pytest.mark.django_db
def test_a_training_counts_against_the_budget(character, user, settings):
    from tests.factories import DatasetFactory, ReadyExportFactory
    from training import services

    settings.FAL_KEY = "key"
    # fal trains on at least 4 images
    export = ReadyExportFactory(dataset=DatasetFactory(character=character), image_count_=4)
    plan = services.plan_training(export=export, provider="fal")
    budgets.set_budget(by=user, monthly_limit=plan.estimate.cost - Decimal("0.01"))
    with pytest.raises(budgets.BudgetExceeded, match="This training costs"):
        services.launch_training(plan=plan, created_by=user)
    budgets.set_budget(by=user, monthly_limit=plan.estimate.cost)
    services.launch_training(plan=plan, created_by=user)
    assert budgets.committed(since=budgets.month_start()).reserved == plan.estimate.cost


@pytest.mark.django_db(transaction=True)
def test_launches_at_the_same_moment_from_separate_connections_never_pass_the_limit(
    character, user, fal_key
):
    budgets.set_budget(by=user, monthly_limit=Decimal("1.00"))  # room for three $0.30 runs
    gate = threading.Barrier(8)
    outcomes = []

    def launch():
        try:
            gate.wait()
            _launch(character, user)
            outcomes.append("launched")
        except budgets.BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()  # each thread had a connection of its own

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["launched"] * 3 + ["refused"] * 5
    assert budgets.committed(since=budgets.month_start()).total == Decimal("0.90")


@pytest.mark.django_db(transaction=True)
def test_with_a_real_worker_pool_runs_launched_together_spend_no_more_than_the_limit(
    fal, worker, character, user
):
    from generation import calls

    start, _ = worker
    start(concurrency=4, env={"CELERY_VISIBILITY_TIMEOUT": "300"})
    fal.script(ULTRA, duration=0.3)
    budgets.set_budget(by=user, monthly_limit=Decimal("0.70"))  # two $0.30 runs
    gate = threading.Barrier(4)
    launched = []

    def launch():
        try:
            gate.wait()
            launched.append(_launch(character, user).id)
        except budgets.BudgetExceeded:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=launch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(launched) == 2

    def settled():
        calls.sweep()
        return not ProviderCall.objects.filter(actual_cost__isnull=True).exists()

    wait_for(settled, timeout=60, what="every call to end")
    total = budgets.committed(since=budgets.month_start())
    assert total.reserved == Decimal("0")
    assert total.spent == Decimal("0.60") <= Decimal("0.70")
    assert fal.requests.accepted[ULTRA] == 4  # two runs of two calls, nothing more sent


@pytest.mark.django_db
def test_declining_on_the_run_page_needs_a_reason_and_artists_are_not_offered_it(
    client, character, user, fal_key
):
    artist = UserFactory(username="painter", role="artist")
    budgets.set_budget(by=user, approval_threshold=Decimal("0.10"))
    run = _launch(character, artist)
    client.force_login(artist)
    assert "Approve and send" not in client.get(f"/runs/{run.id}/").content.decode()
    refused = client.post(
        f"/runs/{run.id}/approval/", {"decision": "approve"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 403 and "lorastudio.manage_budgets" in refused.content.decode()
    client.force_login(user)
    assert "Approve and send" in client.get(f"/runs/{run.id}/").content.decode()
    client.post(f"/runs/{run.id}/approval/", {"decision": "decline"})
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.HELD  # refused: no reason
    client.post(f"/runs/{run.id}/approval/", {"decision": "decline", "reason": "too dear"})
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.CANCELED and run.decision_reason == "too dear"


@pytest.mark.django_db
def test_a_training_dry_run_shows_what_is_left_too(api, character, user, settings):
    from tests.factories import DatasetFactory, ReadyExportFactory

    settings.FAL_KEY = "key"
    budgets.set_budget(by=user, monthly_limit=Decimal("3"))
    # fal trains on at least 4 images
    export = ReadyExportFactory(dataset=DatasetFactory(character=character), image_count_=4)
    training = api.post(
        "/api/training-jobs",
        {"export_id": str(export.id), "provider": "fal", "dry_run": True},
        content_type="application/json",
    )
    assert Decimal(training.json()["left_this_month"]) == Decimal("3")


@pytest.mark.django_db
def test_a_launch_refused_with_an_idempotency_key_saves_nothing_but_its_audit_record(
    api, character, user, fal_key
):
    budgets.set_budget(by=user, monthly_limit=Decimal("0.20"))
    body = {"kind": "anchors", "provider": "fal", "poses": ["front"], "count": 5}

    def launch():
        return api.post(
            f"/api/characters/{character.slug}/runs",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": "launch-1"},
        )

    refused = launch()
    assert refused.status_code == 402
    assert not GenerationRun.objects.exists() and not ProviderCall.objects.exists()
    assert not IdempotencyKey.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.RUN_REFUSED)
    assert event.cost == Decimal("0.30") and event.actor == user

    # A refusal does not use up its key: the same key again is asked again, and answers the
    # same while nothing changed ...
    again = launch()
    assert again.status_code == 402 and again.json() == refused.json()
    assert "Idempotent-Replayed" not in again
    assert not GenerationRun.objects.exists() and not IdempotencyKey.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RUN_REFUSED).count() == 2
    # ... and once the budget allows it, starts the run once; after that it replays that answer.
    budgets.set_budget(by=user, monthly_limit=Decimal("1.00"))
    started = launch()
    assert started.status_code == 201
    replayed = launch()
    assert replayed.json() == started.json() and replayed["Idempotent-Replayed"] == "true"
    assert GenerationRun.objects.count() == 1 and ProviderCall.objects.count() == 2
