"""A query count per page: every list page and list API makes as many queries for three rows
as for one. A loop that queries per row (an N+1) fails here, not as a slow page at 20,000
images. Each case is measured on a small world, the world grows, and the same page must stay
within the first count (django_assert_max_num_queries)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import a_bit_of_everything

PAGES = [
    "/characters/",
    "/characters/{slug}/",
    "/characters/{slug}/anchors/",
    "/characters/{slug}/gallery/",
    "/runs/",
    "/datasets/",
    "/datasets/for/{slug}/",
    "/training/",
    "/training/characters/{slug}/",
    "/training/characters/{slug}/compare/",
    "/training/characters/{slug}/pin/",
    "/training/characters/{slug}/pins/1/",
    "/training/webhooks/",
    "/training/notifications/",
]
APIS = [
    "/api/characters",
    "/api/characters/{slug}/sheet",
    "/api/characters/{slug}/variations",
    "/api/characters/{slug}/images",
    "/api/characters/{slug}/datasets",
    "/api/characters/{slug}/loras",
    "/api/characters/{slug}/pins",
    "/api/characters/{slug}/pin",
    "/api/training-jobs",
    "/api/webhook-endpoints",
]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


@pytest.mark.parametrize("path", PAGES + APIS)
def test_a_list_makes_as_many_queries_for_three_rows_as_for_one(
    path, logged_in, api, user, character, django_assert_max_num_queries
):
    client = api if path.startswith("/api/") else logged_in
    url = path.format(slug=character.slug)
    a_bit_of_everything(character, lora_status="approved", n=1)
    _queries(client, url)  # warm: sessions, caches, first-use lookups
    one = _queries(client, url)
    a_bit_of_everything(character, lora_status="approved", n=2)
    a_bit_of_everything(character, lora_status="approved", n=3)
    with django_assert_max_num_queries(one):
        response = client.get(url)
    assert response.status_code == 200
