"""The usage page and API: spend by user, character and provider, reserved versus actual."""

from decimal import Decimal

import pytest

from generation import runs
from generation.models import ProviderCall


@pytest.fixture
def spending(character, user, settings):
    settings.FAL_KEY = "key"
    plan = runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=["front"], count=5
    )
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    big = run.calls.order_by("-units").first()
    ProviderCall.objects.filter(id=big.id).update(
        status="done", external_id="x", actual_cost=Decimal("0.24")
    )
    return run


@pytest.mark.django_db
def test_usage_api_gives_actual_and_reserved_by_user_character_and_provider(api, spending, user):
    data = api.get("/api/usage").json()
    assert Decimal(data["spent"]) == Decimal("0.24") and Decimal(data["reserved"]) == Decimal(
        "0.06"
    )
    assert data["by_user"][0]["key"] == user.username
    assert data["by_character"][0]["key"] == "Fit"
    assert data["by_provider"][0]["key"] == "fal" and data["by_provider"][0]["calls"] == 2
    assert api.get("/api/usage?month=2026-13").status_code == 400


@pytest.mark.django_db
def test_usage_csv_has_a_line_per_cut(api, spending, user):
    response = api.get("/api/usage.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "month,by,key,spent_usd,reserved_usd,calls"
    assert any(line.split(",")[1:3] == ["user", user.username] for line in lines)


@pytest.mark.django_db
def test_usage_page_draws_the_chart_server_side(logged_in, spending):
    page = logged_in.get("/runs/usage/").content.decode()
    assert '<svg class="usage-chart"' in page and "actual $0.24" in page
