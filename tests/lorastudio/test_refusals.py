"""One reply shape for refusals on the pages: status, plain message, and an htmx event."""

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from characters.models import Anchor
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def other_pose_image(character):
    return ImageFactory(character=character, pose=character.poses.get(key="hanging"))


def pick_url(character, pose="front"):
    return reverse("characters:anchor_pick", args=[character.slug, pose])


def assert_refusal_shape(response, status, words):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain")
    message = response.content.decode()
    assert words in message
    assert json.loads(response["HX-Trigger"]) == {"refused": {"message": message}}


def test_a_refused_anchor_pick_answers_htmx_with_the_status_the_message_and_an_event(
    logged_in, character, other_pose_image
):
    response = logged_in.post(pick_url(character), {"image_id": other_pose_image.id}, headers=HTMX)
    assert_refusal_shape(response, 409, "was made for the")
    assert not Anchor.objects.exists()


def test_a_refused_plain_form_post_goes_back_with_the_message(
    logged_in, character, other_pose_image
):
    board = reverse("characters:anchors", args=[character.slug])
    response = logged_in.post(
        pick_url(character),
        {"image_id": other_pose_image.id},
        headers={"Referer": f"http://testserver{board}"},
    )
    assert response.status_code == 302 and response["Location"].endswith(board)
    [message] = get_messages(response.wsgi_request)
    assert "was made for the" in str(message) and message.level_tag == "error"


def test_a_pick_without_an_image_is_refused_in_the_same_shape(logged_in, character):
    response = logged_in.post(pick_url(character), {"image_id": "x"}, headers=HTMX)
    assert_refusal_shape(response, 400, "Choose the image")


def test_review_and_bulk_review_refusals_share_the_shape(logged_in, character, other_pose_image):
    review = reverse("characters:image_review", args=[character.slug, other_pose_image.id])
    assert_refusal_shape(logged_in.post(review, {"review": "maybe"}, headers=HTMX), 400, "Use one")
    bulk = reverse("characters:bulk_review", args=[character.slug])
    response = logged_in.post(bulk, {"review": "maybe", "image": other_pose_image.id}, headers=HTMX)
    assert_refusal_shape(response, 400, "Use one of")


def test_every_page_loads_the_script_that_shows_refusals(logged_in, character):
    assert "js/refusals.js" in logged_in.get(f"/characters/{character.slug}/").content.decode()
