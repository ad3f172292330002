"""An artist hits the month's budget, a lead raises it, the artist's run starts; the usage
chart and the audit trail show both (seed: issue 16's "done when")."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from generation import budgets
from generation.models import GenerationRun
from tests.factories import UserFactory
from tests.generation.conftest import clean_cache, fal  # noqa: F401

from .walk import finish_runs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ULTRA = "fal-ai/flux-pro/v1.1-ultra"


def _log_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/characters/")


def _price_five_fronts(page, live_server, character):
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    page.locator("input[name=poses]").evaluate_all("boxes => boxes.forEach(b => b.checked = false)")
    page.check("input[name=poses][value=front]")
    page.fill("input[name=count]", "5")
    page.select_option("select[name=provider]", "fal")
    page.click("text=Price this run…")


def test_an_artist_hits_the_budget_a_lead_raises_it_and_usage_and_audit_show_both(
    browser,
    live_server,
    character,
    user,
    fal,  # noqa: F811 (the fixture imported above)
    inline_tasks,
):
    fal.script(ULTRA, duration=0)
    UserFactory(username="painter", role="artist")
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    budgets.set_budget(by=user, monthly_limit=Decimal("0.20"))
    artist = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    lead = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()

    # The artist prices a $0.30 run: the confirm page already says it does not fit.
    _log_in(artist, live_server, "painter")
    _price_five_fronts(artist, live_server, character)
    expect(artist.get_by_test_id("budget-left")).to_contain_text(
        "This run costs $0.30; $0.20 is left this month."
    )
    screenshot_page(artist, "budget-confirm-over")
    artist.click("text=Start the run")
    expect(artist.locator("main .messages li.error")).to_contain_text(
        "This anchor candidates run costs $0.30; $0.20 is left this month."
    )
    assert not GenerationRun.objects.exists()

    # The lead raises the month's limit on the budget page.
    _log_in(lead, live_server, "artist")  # the default test user is a lead
    lead.goto(f"{live_server.url}/runs/budget/")
    lead.fill("#id_monthly_limit", "5")
    lead.click("text=Save the budget")
    expect(lead.locator("main .messages li.success")).to_contain_text("Budget saved.")
    expect(lead.get_by_test_id("budget-left-total")).to_have_text("$5.00")
    screenshot_page(lead, "budget-page-lead")

    # The artist tries again: the run starts and is paid for.
    _price_five_fronts(artist, live_server, character)
    expect(artist.get_by_test_id("budget-left")).to_contain_text("$5.00 is left this month.")
    artist.click("text=Start the run")
    expect(artist.locator("main .messages li.success")).to_contain_text("started")
    finish_runs()
    run = GenerationRun.objects.get()
    assert run.created_by.username == "painter" and run.actual_cost == run.estimated_cost

    # The usage page: the artist's spend, in the chart and by user.
    lead.goto(f"{live_server.url}/runs/usage/")
    expect(lead.get_by_test_id("usage-spent")).to_have_text("$0.30")
    expect(lead.get_by_test_id("by-user")).to_contain_text("painter")
    expect(lead.locator("svg.usage-chart rect").first).to_be_attached()
    screenshot_page(lead, "usage-page-lead")
    lead.set_viewport_size({"width": 390, "height": 844})
    screenshot_page(lead, "usage-page-phone")

    # The audit trail (the admin site): the refusal, the raise and the launch, by whom.
    admin = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    admin.goto(f"{live_server.url}/admin/login/")
    admin.fill("#id_username", "boss")
    admin.fill("#id_password", "correct horse battery")
    admin.click("input[type=submit]")
    admin.goto(f"{live_server.url}/admin/lorastudio/auditevent/")
    rows = admin.locator("#result_list tbody tr")
    expect(rows.filter(has_text="Launch refused by the budget")).to_contain_text("painter")
    raised = rows.filter(has_text="Budget changed").filter(has_text="→ $5.00")
    expect(raised).to_contain_text(re.compile(r"artist.*monthly limit: \$0\.20 → \$5\.00"))
    expect(rows.filter(has_text="Run launched")).to_contain_text("painter")
    screenshot_page(admin, "audit-trail-admin")
    for context_page in (artist, lead, admin):
        context_page.context.close()


def screenshot_page(page, name):
    from tests.browser.walk import save_screenshot

    save_screenshot(page, name, full_page=True)


def test_a_lead_approves_an_artists_run_above_the_threshold_on_its_page(
    browser,
    live_server,
    character,
    user,
    fal,  # noqa: F811 (the fixture imported above)
    inline_tasks,
):
    fal.script(ULTRA, duration=0)
    UserFactory(username="painter", role="artist")
    budgets.set_budget(by=user, approval_threshold=Decimal("0.25"))
    artist = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    lead = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()

    _log_in(artist, live_server, "painter")
    _price_five_fronts(artist, live_server, character)
    expect(artist.get_by_test_id("budget-left")).to_contain_text("waits for a lead's approval")
    artist.click("text=Start the run")
    run = GenerationRun.objects.get()
    assert run.status == GenerationRun.Status.HELD
    artist.goto(f"{live_server.url}/runs/{run.id}/")
    expect(artist.get_by_test_id("approval")).to_contain_text("Waiting for a lead's approval")
    expect(artist.locator("text=Approve and send")).to_have_count(0)  # not for an artist

    _log_in(lead, live_server, "artist")
    lead.goto(f"{live_server.url}/training/notifications/")
    lead.click(f"text=run #{run.id}")
    screenshot_page(lead, "run-held-phone")
    lead.click("text=Approve and send")
    expect(lead.get_by_test_id("decision")).to_contain_text("Approved by artist")
    finish_runs()
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.SUCCEEDED
    lead.goto(f"{live_server.url}/runs/budget/")
    screenshot_page(lead, "budget-page-phone")
    for context_page in (artist, lead):
        context_page.context.close()
