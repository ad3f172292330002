"""One balance plan: its steps, taken as they say, land inside 20–30 images with every shot
type inside its share; each step is a button; filters and bulk changes keep counts live."""

import itertools

import pytest

from datasets import services
from datasets.balance import IDEAL_IMAGES, MIN_PER_SHOT, SHOT_SHARES, balance_report, plan_target

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("close", "mid", "far"),
    [c for c in itertools.product((0, 2, 5, 9, 14), (0, 3, 8, 17), (1, 6, 14, 30))],
)
def test_the_plan_always_lands_inside_the_ideal_size_and_shares(close, mid, far):
    target = plan_target({"close": close, "mid": mid, "far": far, "unknown": 0})

    assert IDEAL_IMAGES[0] <= target.total <= IDEAL_IMAGES[1]
    known = target.close + target.mid + target.far
    for shot, (low, high) in SHOT_SHARES.items():
        n = getattr(target, shot)
        assert n >= MIN_PER_SHOT
        assert low * known - 1e-9 <= n <= high * known + 1e-9


def test_an_oversized_set_is_only_trimmed_never_told_to_add_and_exclude_the_same(stocked):
    """The issue's case: over the ideal size, the old advice said add 32 and exclude 29."""
    dataset = services.create_dataset(character=stocked, name="v1")
    from tests.datasets.conftest import make_image

    for shot, n in (("far", 14), ("close", 9), ("mid", 9)):
        for _ in range(n):
            make_image(stocked, shot=shot, review="approved")
    services.add_images(
        dataset=dataset,
        image_ids=list(stocked.images.filter(review="approved").values_list("id", flat=True)),
    )
    report = balance_report(dataset)
    assert report.total == 52
    steps = [w for w in report.warnings if w.gap or w.exclude]
    assert steps and all(w.exclude for w in steps if w.code.startswith(("high_", "low_")))
    assert not any(w.gap and w.gap.shot for w in steps)  # nothing to add
    left_out = sum(w.exclude.count for w in steps if w.exclude)
    assert 20 <= report.total - left_out <= 30


def test_an_exclude_step_is_a_button_that_leaves_out_that_many(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert "Exclude 8 far shots</button>" in page

    response = logged_in.post(
        f"/datasets/{dataset.id}/exclude-shots/",
        {"shot": "far", "count": "8"},
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    assert dataset.items.filter(included=False, image__shot_type="far").count() == 8
    assert not dataset.items.filter(image__kind="variation", included=True).exists()
    anchors = dataset.items.filter(image__anchor_for__isnull=False)
    assert anchors.filter(included=True).count() == 6  # the variations go first
    assert (
        '<span class="chip ds-counts-chip" id="ds-counts" hx-swap-oob="true">12 included of 20'
        in body
    )
    assert body.count('hx-swap-oob="true"') >= 8 + 3  # the 8 tiles, the counts, report, exports
    assert "Left out 8 images" in response["HX-Trigger"]
    report = balance_report(dataset)
    assert report.by_shot["far"] == 6


def test_include_and_exclude_shown_change_many_at_once(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    uploads = list(dataset.items.filter(image__kind="upload").values_list("id", flat=True))
    url = f"/datasets/{dataset.id}/include/"

    logged_in.post(url, {"item_ids": uploads, "included": "off"}, headers={"HX-Request": "true"})
    assert dataset.items.filter(included=False).count() == 6

    back = logged_in.post(
        url, {"item_ids": uploads[:2], "included": "on"}, headers={"HX-Request": "true"}
    )
    assert dataset.items.filter(included=False).count() == 4
    assert "Included 2 images." in back["HX-Trigger"]
    refused = logged_in.post(url, {"included": "on"}, headers={"HX-Request": "true"})
    assert refused.status_code == 400


def test_the_filters_know_each_tiles_shot_source_and_flags(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert 'data-shot="far" data-source="anchor"' in page
    assert 'data-source="upload"' in page
    assert 'data-flags="included caption"' in page  # an upload without a caption yet
    assert '<select name="f-shot">' in page and '<select name="f-flag">' in page
    assert "Include shown" in page and "Exclude shown" in page
