"""The dataset pages and their htmx partials, as a logged-in user sees them."""

import re

import pytest

from characters.models import Image
from datasets import services
from datasets.models import Dataset, DatasetExport
from generation.models import GenerationRun
from tests.confirm_pages import price, start, token_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(stocked):
    return services.create_dataset(character=stocked, name="v1")


def test_the_character_page_links_to_its_datasets(logged_in, stocked):
    page = logged_in.get(f"/characters/{stocked.slug}/")
    assert f'href="/datasets/for/{stocked.slug}/"' in page.content.decode()


def test_a_dataset_is_created_from_the_characters_datasets_page(logged_in, stocked):
    page = logged_in.get(f"/datasets/for/{stocked.slug}/")
    assert "Starts with 20 images" in page.content.decode()

    response = logged_in.post(f"/datasets/for/{stocked.slug}/", {"name": "first"})
    dataset = Dataset.objects.get(name="first")
    assert response.status_code == 302 and response.url == f"/datasets/{dataset.id}/"
    assert dataset.items.count() == 20


def test_a_taken_name_shows_the_reason_on_the_form(logged_in, dataset):
    response = logged_in.post(f"/datasets/for/{dataset.character.slug}/", {"name": "v1"})
    assert response.status_code == 200
    assert "already has a dataset named" in response.content.decode()


def test_the_dataset_page_shows_items_report_warnings_and_tools(logged_in, dataset):
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()

    assert page.count('<article class="ds-item') == 20
    assert "Add 3 close-up shots." in page
    assert "Make 3 close-ups…" in page and "Exclude 8 far shots" in page
    assert "Caption uploads…" in page
    assert "Export training set" in page
    assert "has no caption yet" in page  # uploads wait for captioning


def test_a_caption_is_edited_inline(logged_in, dataset):
    item = dataset.items.filter(image__kind="upload").first()

    form = logged_in.get(f"/datasets/items/{item.id}/?edit=1", headers={"HX-Request": "true"})
    assert "<textarea" in form.content.decode()

    tile = logged_in.post(
        f"/datasets/items/{item.id}/caption/",
        {"caption": "smiling by a window"},
        headers={"HX-Request": "true"},
    )
    assert tile.status_code == 200
    assert "fitmannequin, smiling by a window" in tile.content.decode()
    assert 'id="report" hx-swap-oob="true"' in tile.content.decode()  # the report follows
    item.refresh_from_db()
    assert item.caption == "smiling by a window" and "smiling" in item.concepts


def test_a_shot_type_is_fixed_by_hand_and_shows_its_source(logged_in, dataset):
    item = dataset.items.filter(image__kind="upload", image__shot_type="mid").first()
    tile = logged_in.post(f"/datasets/items/{item.id}/shot/", {"shot_type": "far"})
    assert "set by hand" in tile.content.decode()
    assert Image.objects.get(id=item.image_id).shot_source == "hand"

    refused = logged_in.post(
        f"/datasets/items/{item.id}/shot/", {"shot_type": "wide"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 400
    assert "Use a shot type" in refused.content.decode()
    assert "refused" in refused["HX-Trigger"]  # the page shows it in its message list


def test_an_item_is_excluded_with_the_toggle(logged_in, dataset):
    item = dataset.items.first()
    logged_in.post(f"/datasets/items/{item.id}/include/", {})
    item.refresh_from_db()
    assert not item.included
    logged_in.post(f"/datasets/items/{item.id}/include/", {"included": "on"})
    item.refresh_from_db()
    assert item.included


def test_find_and_replace_previews_then_applies(logged_in, dataset):
    url = f"/datasets/{dataset.id}/replace/"
    preview = logged_in.post(
        url, {"find": "arms relaxed", "replace": "arms loose", "match_case": "on"}
    )
    body = preview.content.decode()
    assert "4 captions</strong> would change" in body
    assert not dataset.items.filter(caption__contains="arms loose").exists()

    applied = logged_in.post(
        url, {"find": "arms relaxed", "replace": "arms loose", "match_case": "on", "apply": "yes"}
    )
    assert "Replaced in 4 captions" in applied.content.decode()
    assert applied.headers["HX-Refresh"] == "true"
    assert dataset.items.filter(caption__contains="arms loose").count() == 4


def test_the_caption_run_shows_its_price_before_launching(logged_in, dataset, fal_key):
    url = f"/datasets/{dataset.id}/captions/"
    confirm = price(logged_in, url, {"provider": "fal"})
    body = confirm.content.decode()
    assert "Spend about $0.01?" in body
    assert f'action="{url}"' in body
    assert not GenerationRun.objects.exists()

    launched = start(logged_in, url, {"provider": "local"})
    assert launched.status_code == 302
    run = GenerationRun.objects.get()
    assert (run.kind, run.params["dataset_id"]) == ("captions", dataset.id)


def test_fill_the_gap_shows_a_priced_run_that_its_own_page_confirms(logged_in, dataset, fal_key):
    url = f"/datasets/{dataset.id}/fill-gap/"
    confirm = price(logged_in, url, {"shot": "close", "pose": "", "count": "5", "provider": "fal"})
    body = confirm.content.decode()
    assert "Spend about $0.15?" in body
    assert f'action="{url}"' in body
    assert 'name="shot" value="close"' in body
    assert not GenerationRun.objects.exists()


def test_fill_the_gap_without_anchors_says_what_to_do(logged_in, character):
    from tests.datasets.conftest import make_image

    make_image(character, shot="close", review="approved")
    dataset = services.create_dataset(character=character, name="v1")
    response = logged_in.post(
        f"/datasets/{dataset.id}/fill-gap/", {"shot": "far", "count": "3"}, follow=True
    )
    assert "Pick the character&#x27;s anchors first" in response.content.decode()


def test_exporting_from_the_page_lists_the_export_with_a_download(logged_in, dataset, eager_tasks):
    response = logged_in.post(
        f"/datasets/{dataset.id}/exports/new/", {"resolution": "768", "accept_warnings": "on"}
    )
    assert response.status_code == 302
    export = DatasetExport.objects.get()
    assert (export.status, export.resolution) == ("ready", 768)

    listing = logged_in.get(f"/datasets/{dataset.id}/exports/").content.decode()
    assert f"/datasets/exports/{export.id}/download/" in listing
    assert "every 2s" not in listing  # nothing building: no polling
    download = logged_in.get(f"/datasets/exports/{export.id}/download/")
    assert download.status_code == 302 and "sig=" in download.url


def test_an_export_refused_for_captions_says_why_on_the_page(logged_in, dataset):
    dataset.caption_template = "{caption}"
    dataset.save()
    page = logged_in.post(
        f"/datasets/{dataset.id}/exports/new/", {"resolution": "1024"}, follow=True
    )
    assert "do not have the trigger word" in page.content.decode()
    assert not DatasetExport.objects.exists()


def test_the_pages_need_a_login(client, dataset):
    response = client.get(f"/datasets/{dataset.id}/")
    assert response.status_code == 302 and "/login/" in response.url


def test_a_tile_change_brings_the_refreshed_report_along(logged_in, dataset):
    item = dataset.items.filter(image__shot_type="close").first()
    tile = logged_in.post(f"/datasets/items/{item.id}/shot/", {"shot_type": "far"})
    body = tile.content.decode()
    assert '<section class="card ds-report" id="report" hx-swap-oob="true">' in body
    assert '<tr class="ds-off" data-shot="far"><td>Far shot</td><td class="num">15</td>' in body


def test_a_caption_run_confirmed_twice_starts_once(logged_in, dataset):
    url = f"/datasets/{dataset.id}/captions/"
    page = price(logged_in, url, {"provider": "local"})
    assert "no-store" in page["Cache-Control"]
    confirmed = {"provider": "local", "confirm": "yes", "once": token_of(page)}
    logged_in.post(url, confirmed)
    again = logged_in.post(url, confirmed, follow=True)
    run = GenerationRun.objects.get()
    assert f"Captioning run #{run.id} was started from this page" in again.content.decode()
    back = logged_in.get(page.redirect_chain[-1][0], follow=True)
    assert back.redirect_chain[-1][0] == f"/runs/{run.id}/"
    assert GenerationRun.objects.count() == 1


def test_coming_back_to_a_fill_the_gap_page_leads_to_the_run_it_started(logged_in, dataset):
    page = price(
        logged_in,
        f"/datasets/{dataset.id}/fill-gap/",
        {"shot": "close", "pose": "", "count": "3", "provider": "local"},
    )
    assert "no-store" in page["Cache-Control"]
    body = page.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', body))
    assert fields["once"] and fields["confirm"] == "yes"
    for _ in range(2):
        logged_in.post(f"/datasets/{dataset.id}/fill-gap/", fields)
    run = GenerationRun.objects.get()
    back = logged_in.get(page.redirect_chain[-1][0], follow=True)
    assert back.redirect_chain[-1][0] == f"/runs/{run.id}/"
    assert f"Run #{run.id} was started from this page" in back.content.decode()
