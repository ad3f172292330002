import pytest
from django.urls import reverse

from generation.models import GenerationRun, ProviderCall
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
