"""Run forms and run pages: nothing ticked, providers without a key, plurals, failures where
the run was launched, and sending failed calls again (priced first)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generation import providers, runs
from generation.models import GenerationRun, ProviderCall
from generation.selectors import preferred_provider
from tests.confirm_pages import price, start
from tests.factories import AnchorFactory, ImageFactory, ProviderCallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_run(character):
    return reverse("generation:run_new", args=[character.slug])


def test_no_pose_ticked_is_a_form_error_not_every_pose(logged_in, character, new_run):
    response = logged_in.post(new_run, {"kind": "anchors", "count": "10"}, follow=True)
    html = response.content.decode()
    assert "Tick at least one pose to generate candidates for." in html
    assert "Spend about" not in html
    assert not GenerationRun.objects.exists()


def test_no_variation_ticked_is_a_form_error_not_every_variation(logged_in, character, new_run):
    response = logged_in.post(new_run, {"kind": "variations"}, follow=True)
    assert "Tick at least one variation to generate." in response.content.decode()
    assert not GenerationRun.objects.exists()


def test_more_like_this_needs_no_pose_ticked(logged_in, character, new_run):
    pose = character.poses.get(key="front")
    image = ImageFactory(character=character, kind="candidate", pose=pose)
    response = price(logged_in, new_run, {"kind": "anchors", "like_image_id": image.id})
    assert "Spend about $0.00?" in response.content.decode()


def test_a_provider_without_a_key_is_shown_disabled_with_the_reason(logged_in, character, settings):
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN = "", "r8_token"
    html = logged_in.get(reverse("characters:anchors", args=[character.slug])).content.decode()
    assert '<option value="fal"  disabled title="FAL_KEY is not set' in html
    assert "(needs FAL_KEY)" in html
    assert "fal.ai: FAL_KEY is not set: add it to the environment" in html  # shown, not hovered
    assert '<option value="replicate" >Replicate</option>' in html
    by_key = {p.key: p for p in providers.available()}
    assert not by_key["fal"].usable and by_key["replicate"].usable and by_key["local"].usable


def test_a_provider_without_a_key_is_never_priced(logged_in, character, new_run, settings):
    settings.FAL_KEY = ""
    data = {"kind": "anchors", "poses": ["front"], "provider": "fal"}
    response = logged_in.post(new_run, data, follow=True)
    html = response.content.decode()
    assert "fal.ai cannot be used: FAL_KEY is not set" in html
    assert "Spend about" not in html and not GenerationRun.objects.exists()


def test_the_provider_chosen_last_is_preselected(logged_in, character, new_run, settings):
    settings.REPLICATE_API_TOKEN = "r8_token"
    logged_in.post(new_run, {"kind": "anchors", "poses": ["front"], "provider": "replicate"})
    html = logged_in.get(reverse("characters:anchors", args=[character.slug])).content.decode()
    assert '<option value="replicate" selected>' in html
    settings.REPLICATE_API_TOKEN = ""  # its key gone: back to the default
    assert preferred_provider("replicate") == settings.PROVIDER


def test_one_call_one_image_is_said_in_the_singular(logged_in, character, new_run):
    response = start(
        logged_in, new_run, {"kind": "anchors", "poses": ["front"], "count": "1"}, follow=True
    )
    assert "1 call, 1 image, about $0.00" in response.content.decode()
    run = GenerationRun.objects.get()
    page = logged_in.get(reverse("generation:run_detail", args=[run.id])).content.decode()
    assert "<strong>1</strong> call, <strong>0</strong> images" in page


def test_the_run_page_shows_results_source_strength_and_a_gallery_link(logged_in, character):
    anchor = AnchorFactory(character=character, pose=character.poses.get(key="hanging"))
    run = GenerationRun.objects.create(character=character, kind="variations", provider="local")
    context = {
        "label": "Pull-up, top",
        "inputs": {"prompt": "x", "strength": 0.45},
        "image": {"source_image_id": anchor.image.id},
    }
    calls = [ProviderCallFactory(run=run, units=2, context=context) for _ in range(2)]
    for n in range(2):
        ImageFactory(character=character, kind="variation", call=calls[0], call_output=n)
    html = logged_in.get(reverse("generation:run_detail", args=[run.id])).content.decode()
    assert html.count('class="call-group"') == 1  # two calls for one spec: one group
    assert "2 calls, 2 images" in html
    assert html.count('alt="Result ') == 2
    assert f"Hanging from bar #{anchor.image.id}" in html
    assert ">0.45<" in html
    assert f'href="/characters/{character.slug}/gallery/?run={run.id}"' in html


def failed_run(character, error="fal: NSFW content detected", **run_fields):
    run = GenerationRun.objects.create(
        character=character,
        kind="anchors",
        provider="local",
        status=GenerationRun.Status.FAILED,
        finished_at=timezone.now(),
        **run_fields,
    )
    pose = character.poses.get(key="front")
    ProviderCallFactory(
        run=run,
        status=ProviderCall.Status.FAILED,
        error=error,
        units=2,
        estimated_cost=Decimal("0"),
        context={
            "purpose": "images",
            "label": "Front candidates",
            "inputs": {"prompt": "front", "num_images": 2, "seed": 1},
            "image": {"character_id": character.id, "kind": "candidate", "pose_id": pose.id},
        },
    )
    return run


def test_a_failed_run_shows_in_red_with_its_first_error_where_it_was_launched(logged_in, character):
    run = failed_run(character)
    url = reverse("generation:progress", args=[character.slug])
    html = logged_in.get(url).content.decode()
    assert 'class="card run-failure"' in html
    assert f"run #{run.id} failed" in html and "fal: NSFW content detected" in html
    assert f'href="/runs/{run.id}/"' in html
    # Dismissed, it is gone from the character's pages (the run page keeps it).
    logged_in.post(reverse("generation:run_dismiss", args=[run.id]))
    assert "run-failure" not in logged_in.get(url).content.decode()


def test_a_failed_run_of_yesterday_is_no_longer_shown(logged_in, character):
    run = failed_run(character)
    GenerationRun.objects.filter(id=run.id).update(
        finished_at=timezone.now() - timezone.timedelta(days=2)
    )
    html = logged_in.get(reverse("generation:progress", args=[character.slug])).content.decode()
    assert "run-failure" not in html


def test_failed_calls_are_sent_again_as_a_new_run_priced_first(logged_in, character):
    run = failed_run(character)
    url = reverse("generation:run_retry", args=[run.id])
    page = logged_in.get(reverse("generation:run_detail", args=[run.id])).content.decode()
    assert "Price sending the 1 failed call again" in page

    priced = price(logged_in, url).content.decode()
    assert "Spend about $0.00?" in priced and "1 call, 2 images on the local simulator" in priced
    assert GenerationRun.objects.count() == 1

    response = start(logged_in, url)
    retry = GenerationRun.objects.exclude(id=run.id).get()
    assert response["Location"] == reverse("generation:run_detail", args=[retry.id])
    assert retry.params["retry_of"] == run.id
    call = retry.calls.get()
    assert call.context["image"]["pose_id"] == character.poses.get(key="front").id
    assert call.context["inputs"]["seed"] != 1  # a fresh seed
    assert run.calls.get().status == ProviderCall.Status.FAILED  # the record stays


def test_a_run_without_failed_calls_has_nothing_to_send_again(character):
    run = GenerationRun.objects.create(character=character, kind="anchors", provider="local")
    with pytest.raises(runs.RunRefused, match="no failed calls"):
        runs.plan_retry(run=run)
