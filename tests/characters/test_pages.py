"""The character pages as a user meets them: one approved count, next steps, spec ticks."""

import re

import pytest
from django.urls import reverse

from characters import selectors, services
from characters.models import Image
from generation.models import GenerationRun, ProviderCall
from tests.factories import ImageFactory, ProviderCallFactory

pytestmark = pytest.mark.django_db


def pick_all_anchors(character, user):
    for pose in character.poses.all():
        image = ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose)
        services.pick_anchor(
            character=character, pose_key=pose.key, image_id=image.id, picked_by=user
        )


def approve(character, n):
    pose = character.poses.first()
    for _ in range(n):
        ImageFactory(
            character=character,
            kind=Image.Kind.VARIATION,
            pose=pose,
            variation=character.variations.first(),
            review=Image.Review.APPROVED,
        )


def test_an_anchor_counts_as_approved_on_the_list_the_character_page_and_the_gallery(
    logged_in, character, user
):
    pick_all_anchors(character, user)
    approve(character, 5)
    # An anchor that was also approved by hand counts once.
    anchor = character.anchors.first().image
    services.review_image(image=anchor, reviewed_by=user, review="approved", starred=None)
    assert selectors.curation_counts(character).approved == 13

    listed = logged_in.get(reverse("characters:list")).content.decode()
    page = logged_in.get(character.get_absolute_url()).content.decode()
    gallery = logged_in.get(reverse("characters:gallery", args=[character.slug])).content.decode()
    for html in (listed, page, gallery):
        assert re.search(r'class="approved-count">13<', html), html[:200]
    assert "13 approved (target 20–30)" in page
    listed_character = selectors.characters_for_list().get()
    assert listed_character.approved_count == 13


def test_an_anchor_tile_says_anchor_not_unreviewed(logged_in, character, user):
    pick_all_anchors(character, user)
    gallery = logged_in.get(reverse("characters:gallery", args=[character.slug])).content.decode()
    assert gallery.count('<span class="badge anchor">Anchor</span>') == 8
    assert 'class="badge unreviewed"' not in gallery


def test_the_approved_filter_includes_the_anchors(logged_in, character, user):
    pick_all_anchors(character, user)
    approve(character, 2)
    ImageFactory(character=character, kind=Image.Kind.UPLOAD)
    url = reverse("characters:gallery", args=[character.slug])
    assert logged_in.get(url, {"review": "approved"}).content.decode().count("data-image-id=") == 10
    unreviewed = logged_in.get(url, {"review": "unreviewed"}).content.decode()
    assert unreviewed.count("data-image-id=") == 1


def test_the_character_list_shows_real_anchor_thumbnails(logged_in, character, user):
    pick_all_anchors(character, user)
    html = logged_in.get(reverse("characters:list")).content.decode()
    assert html.count('anchor" loading="lazy"') == 8


def test_the_primary_button_names_the_next_step(logged_in, character, user):
    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert "Next: generate the character sheet" in html  # no candidate to pick from yet
    ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=character.poses.first())
    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert "Next: pick the anchors" in html
    pick_all_anchors(character, user)
    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert re.search(
        r'class="button primary next-step" href="[^"]+#variations">Next: variations', html
    )
    approve(character, 12)  # 8 anchors + 12 approved variations = 20
    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert f'href="/datasets/for/{character.slug}/">Next: build the training set' in html


def test_every_step_with_a_page_is_a_link_and_steps_without_one_are_never_offered(character):
    steps = {s.key: s for s in selectors.pipeline_progress(character)}
    assert steps["anchors"].url == reverse("characters:anchors", args=[character.slug])
    assert steps["curate"].url == reverse("characters:gallery", args=[character.slug])
    assert steps["dataset"].url is not None
    for step in steps.values():
        if step.url is None:
            assert step.state != "current" or selectors.next_step(list(steps.values())) is None


def test_the_spec_table_ticks_only_the_missing_specs_and_shows_counts(logged_in, character):
    specs = list(character.variations.all()[:3])
    made, failed, _fresh = specs
    for review in ["approved", "rejected", "unreviewed"]:
        ImageFactory(character=character, kind="variation", variation=made, review=review)
    run = GenerationRun.objects.create(character=character, kind="variations", provider="local")
    ProviderCallFactory(
        run=run,
        status=ProviderCall.Status.FAILED,
        context={"image": {"variation_id": failed.id}},
    )
    rows = {row.spec.key: row for row in selectors.variation_rows(character)}
    assert (rows[made.key].generated, rows[made.key].approved) == (3, 1)
    assert not rows[made.key].checked and not rows[made.key].missing
    assert rows[failed.key].missing and rows[failed.key].failed == 1
    assert not rows[failed.key].checked
    assert rows[_fresh.key].checked

    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert f'value="{_fresh.key}" checked' in html
    assert f'value="{made.key}" checked' not in html
    assert 'data-tick="missing"' in html and 'data-tick="none"' in html


def test_specs_past_the_first_eight_fold_away_unless_they_failed_or_are_on_their_way(
    logged_in, character
):
    specs = list(character.variations.all())
    assert len(specs) == 32
    failing, in_flight = specs[20], specs[30]
    run = GenerationRun.objects.create(character=character, kind="variations", provider="local")
    ProviderCallFactory(
        run=run, status=ProviderCall.Status.FAILED, context={"image": {"variation_id": failing.id}}
    )
    ProviderCallFactory(
        run=run,
        status=ProviderCall.Status.CREATED,
        context={"image": {"variation_id": in_flight.id}},
    )
    rows = selectors.variation_rows(character)
    assert [row.spec.key for row in rows if not row.folded] == [
        *(spec.key for spec in specs[:8]),
        failing.key,
        in_flight.key,
    ]

    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert html.count('class="missing folded"') == 22
    # Every spec stays in the form, ticked or not: folding hides, it never drops a tick.
    assert html.count('name="variations"') == 32
    assert 'id="specs-unfold"' in html and "Show all 32 specs (22 more)" in html


def test_a_short_spec_table_has_nothing_to_fold(logged_in, character):
    keep = list(character.variations.values_list("id", flat=True)[:8])
    character.variations.exclude(id__in=keep).delete()
    html = logged_in.get(character.get_absolute_url()).content.decode()
    assert "folded" not in html and "specs-unfold" not in html


def test_the_suggestion_names_the_pose_not_its_key(logged_in, character):
    url = reverse("characters:suggest_anchor", args=[character.slug])
    html = logged_in.get(url, {"prompt": "seated cable row"}).content.decode()
    assert "Suggested anchor: <strong>Seated</strong>" in html


def test_the_gallery_filters_by_run(logged_in, character):
    run = GenerationRun.objects.create(character=character, kind="anchors", provider="local")
    call = ProviderCallFactory(run=run, units=2)
    pose = character.poses.first()
    mine = ImageFactory(character=character, kind="candidate", pose=pose, call=call, call_output=0)
    ImageFactory(character=character, kind="candidate", pose=pose)
    url = reverse("characters:gallery", args=[character.slug])
    html = logged_in.get(url, {"run": run.id}).content.decode()
    assert html.count("data-image-id=") == 1 and f'data-image-id="{mine.id}"' in html
    assert f'data-run="{run.id}"' in html


def test_the_gallery_warns_about_poses_with_too_few_approved(character, user):
    poses = list(character.poses.all())
    for pose in poses[:2]:
        for _ in range(9):
            ImageFactory(character=character, kind="candidate", pose=pose, review="approved")
    for pose in poses[2:]:
        ImageFactory(character=character, kind="candidate", pose=pose, review="approved")
    counts = selectors.curation_counts(character)
    assert counts.approved == 24
    assert not counts.balanced
    assert "Within the 20–30 target, but unbalanced" in counts.advice
    assert "Too few approved" in counts.advice and poses[2].label in counts.advice
    assert "leans on" in counts.advice


def test_keyboard_review_is_told_where_the_next_page_is(logged_in, character):
    pose = character.poses.first()
    Image.objects.bulk_create(
        Image(
            character=character, kind="candidate", pose=pose, file=f"x/{n}.png", width=9, height=9
        )
        for n in range(61)
    )
    url = reverse("characters:gallery", args=[character.slug])
    assert f'data-next-page="{url}?page=2"' in logged_in.get(url).content.decode()
    # With a review filter, reviewed images leave the list: the next ones move up to page 1.
    filtered = logged_in.get(url, {"review": "unreviewed"}).content.decode()
    assert f'data-next-page="{url}?review=unreviewed&amp;page=1"' in filtered
    Image.objects.update(review="approved")
    approved = logged_in.get(url, {"review": "approved"}).content.decode()
    assert f'data-next-page="{url}?review=approved&amp;page=2"' in approved


def test_a_pose_without_candidates_offers_to_generate_4_not_4_more(logged_in, character):
    front = character.poses.get(key="front")
    ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=front)
    html = logged_in.get(reverse("characters:anchors", args=[character.slug])).content.decode()
    assert html.count(">Generate 4 more</button>") == 1  # front, which has a candidate
    assert html.count(">Generate 4</button>") == character.poses.count() - 1
