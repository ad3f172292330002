from decimal import Decimal

import pytest
from django.urls import reverse

from generation import runs
from generation.models import GenerationRun, ProviderCall
from tests.confirm_pages import token_of
from tests.factories import ProviderCallFactory

pytestmark = pytest.mark.django_db


def test_a_run_page_lists_its_calls_with_what_happened(logged_in):
    call = ProviderCallFactory(
        status=ProviderCall.Status.FAILED,
        error="fal: NSFW content detected",
        context={"label": "Front candidates"},
    )
    response = logged_in.get(reverse("generation:run_detail", args=[call.run_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Front candidates" in html and "NSFW content detected" in html


def test_the_progress_part_refreshes_alone_through_htmx(logged_in):
    call = ProviderCallFactory(context={"label": "Front candidates"})
    response = logged_in.get(
        reverse("generation:run_detail", args=[call.run_id]), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-progress"')
    assert "<html" not in html


def test_a_poll_that_sees_the_run_ended_reloads_the_page_so_cancel_goes(logged_in):
    call = ProviderCallFactory(context={"label": "Front candidates"})
    url = reverse("generation:run_detail", args=[call.run_id])
    assert "Cancel run" in logged_in.get(url).content.decode()
    polled = logged_in.get(f"{url}?live=1", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in polled  # still running

    runs.cancel_run(call.run)
    polled = logged_in.get(f"{url}?live=1", headers={"HX-Request": "true"})

    assert polled["HX-Refresh"] == "true"
    assert "Cancel run" not in logged_in.get(url).content.decode()


def test_a_call_with_an_unknown_outcome_offers_an_explicit_retry(logged_in):
    call = ProviderCallFactory(status=ProviderCall.Status.UNKNOWN, context={"label": "x"})
    page = logged_in.get(reverse("generation:run_detail", args=[call.run_id])).content.decode()
    assert "may pay twice" in page
    logged_in.post(reverse("generation:call_retry", args=[call.id]))
    call.refresh_from_db()
    assert call.status == ProviderCall.Status.SUBMITTING  # claimed for sending again


def test_canceling_a_run_from_its_page(logged_in):
    call = ProviderCallFactory(context={"label": "x"})
    logged_in.post(reverse("generation:run_cancel", args=[call.run_id]))
    call.refresh_from_db()
    assert call.status == ProviderCall.Status.CANCELED
    assert GenerationRun.objects.get().status == GenerationRun.Status.CANCELED


def test_a_run_from_the_page_is_priced_first_and_starts_only_when_confirmed(
    logged_in, character, settings
):
    settings.FAL_KEY = "fal-key"  # nothing is sent: the test's transaction never commits
    url = reverse("generation:run_new", args=[character.slug])
    data = {"kind": "anchors", "poses": ["front", "back"], "count": "10", "provider": "fal"}
    page = logged_in.post(url, data, follow=True)
    html = page.content.decode()
    assert "Spend about $1.20?" in html and "6 calls, 20 images on fal.ai" in html
    assert not GenerationRun.objects.exists()
    confirmed = {**data, "confirm": "yes", "next": "/characters/fit/anchors/"}
    response = logged_in.post(url, {**confirmed, "once": token_of(page)})
    assert response.status_code == 302 and response["Location"] == "/characters/fit/anchors/"
    run = GenerationRun.objects.get()
    assert (run.provider, run.estimated_cost, run.calls.count()) == ("fal", Decimal("1.20"), 6)


def test_variations_without_their_anchors_are_refused_on_the_page(logged_in, character):
    url = reverse("generation:run_new", args=[character.slug])
    response = logged_in.post(
        url, {"kind": "variations", "variations": ["pullup_top"]}, follow=True
    )
    assert "Pick an anchor for Hanging from bar first" in response.content.decode()
    assert not GenerationRun.objects.exists()


def test_an_outside_next_url_is_not_followed(logged_in, character):
    url = reverse("generation:run_new", args=[character.slug])
    response = logged_in.post(
        url, {"kind": "anchors", "poses": ["front"], "next": "https://evil.example/"}, follow=True
    )
    assert response.status_code == 200  # the confirmation page, with a safe way back
    assert "https://evil.example/" not in response.content.decode()


def test_multi_reference_variations_send_the_closest_anchor_first(logged_in, character):
    from generation import runs
    from tests.factories import AnchorFactory

    anchors = {
        key: AnchorFactory(character=character, pose=character.poses.get(key=key))
        for key in ["front", "hanging", "side"]
    }
    plan = runs.plan_run(
        character=character, kind="variations", variations=["pullup_top"], mode="multi_reference"
    )
    refs = plan.calls[0].inputs["image_urls"]
    assert plan.calls[0].task == "multi_reference_edit"
    assert refs[0] == f"file:{anchors['hanging'].image.file.name}" and len(refs) == 3


def test_the_variation_form_suggests_the_closest_anchor(logged_in, character):
    url = reverse("characters:suggest_anchor", args=[character.slug])
    html = logged_in.get(url, {"prompt": "romanian deadlift, flat back"}).content.decode()
    assert "Bent over" in html and "deadlift" in html and 'data-use-pose="bent"' in html
