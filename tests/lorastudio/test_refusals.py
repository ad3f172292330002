"""One reply shape for refusals on the pages: status, plain message, and an htmx event."""

import ast
import json
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from characters.models import Anchor
from generation.models import GenerationRun
from tests.factories import DatasetFactory, GenerationRunFactory, ImageFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
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


# --- One mechanism: views name where refusals go back to, they never flash them by hand ----
@pytest.fixture
def finished_run(character):
    return GenerationRunFactory(character=character, status=GenerationRun.Status.SUCCEEDED)


def test_a_refused_form_post_without_a_referer_goes_back_to_the_page_its_view_names(
    logged_in, finished_run
):
    response = logged_in.post(reverse("generation:run_cancel", args=[finished_run.id]))
    assert response["Location"] == reverse("generation:run_detail", args=[finished_run.id])
    [message] = get_messages(response.wsgi_request)
    assert str(message) == "This run has already finished." and message.level_tag == "error"


def test_a_safe_next_wins_and_an_outside_one_is_ignored(logged_in, finished_run):
    url = reverse("generation:run_cancel", args=[finished_run.id])
    assert logged_in.post(url, {"next": "/characters/"})["Location"] == "/characters/"
    away = logged_in.post(url, {"next": "https://elsewhere.example/"}, headers={"Referer": "/x/"})
    assert away["Location"] == reverse("generation:run_detail", args=[finished_run.id])


def test_the_same_refusal_to_htmx_is_the_one_shape(logged_in, finished_run):
    url = reverse("generation:run_cancel", args=[finished_run.id])
    assert_refusal_shape(logged_in.post(url, headers=HTMX), 400, "already finished")


@pytest.mark.parametrize(
    ("name", "words"), [("x" * 101, "Not saved:"), ("", "Give the dataset a name.")]
)
def test_a_form_the_view_or_its_service_refuses_goes_back_the_same_way(
    logged_in, character, name, words
):
    dataset = DatasetFactory(character=character)
    response = logged_in.post(reverse("datasets:settings", args=[dataset.id]), {"name": name})
    assert response["Location"] == reverse("datasets:detail", args=[dataset.id])
    [message] = get_messages(response.wsgi_request)
    assert str(message).startswith(words) and message.level_tag == "error"


VIEWS = ["characters/views.py", "generation/views.py", "datasets/views.py", "training/views.py"]


@pytest.mark.parametrize("module", VIEWS)
def test_no_view_catches_a_refusal_to_flash_it_by_hand(module):
    # `except SomeRefusal: messages.error(...)` is lorastudio.refusals' job (@goes_back_to).
    tree = ast.parse((ROOT / module).read_text())
    flashing = [
        f"{module}:{handler.lineno}"
        for handler in ast.walk(tree)
        if isinstance(handler, ast.ExceptHandler)
        for node in ast.walk(handler)
        if isinstance(node, ast.Attribute)
        and node.attr == "error"
        and isinstance(node.value, ast.Name)
        and node.value.id == "messages"
    ]
    assert not flashing, "let the refusal propagate instead:\n" + "\n".join(flashing)
