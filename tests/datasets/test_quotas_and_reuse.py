"""Per-user quotas on uploads and exports (429 with Retry-After), and an unchanged dataset's
export reused instead of built again."""

import io
import json
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from datasets import exports, services
from datasets.models import DatasetExport, Upload
from lorastudio import quotas
from tests.datasets.test_ingest import photo_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_quotas():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dataset(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(image__kind="upload"):
        services.update_item(item=item, caption="a person smiling outdoors")
    return dataset


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_asking_again_for_an_unchanged_dataset_reuses_its_export(api, dataset):
    first = post(api, f"/api/datasets/{dataset.id}/exports", {})
    assert first.status_code == 202
    again = post(api, f"/api/datasets/{dataset.id}/exports", {})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert DatasetExport.objects.count() == 1

    exports.build_export(first.json()["id"])
    assert post(api, f"/api/datasets/{dataset.id}/exports", {}).json()["id"] == first.json()["id"]
    assert DatasetExport.objects.count() == 1


def test_a_change_or_another_resolution_makes_a_new_export(api, dataset):
    first = exports.start_export(dataset=dataset, enqueue=False)
    other = exports.start_export(dataset=dataset, enqueue=False, resolution=768)
    assert other.id != first.id and not other.reused
    item = dataset.items.filter(image__kind="upload").first()
    services.update_item(item=item, caption="a person laughing outdoors")
    changed = exports.start_export(dataset=dataset, enqueue=False)
    assert changed.id not in (first.id, other.id)


def test_a_failed_export_is_not_reused(dataset):
    first = exports.start_export(dataset=dataset, enqueue=False)
    DatasetExport.objects.filter(id=first.id).update(status="failed", error="disk full")
    assert exports.start_export(dataset=dataset, enqueue=False).id != first.id


def test_exports_past_the_quota_answer_429_with_retry_after(api, dataset, settings):
    settings.QUOTAS = {**settings.QUOTAS, "export": (2, 600)}
    for resolution in (512, 768):
        assert (
            post(api, f"/api/datasets/{dataset.id}/exports", {"resolution": resolution}).status_code
            == 202
        )
    # A reused export costs nothing.
    assert post(api, f"/api/datasets/{dataset.id}/exports", {"resolution": 768}).status_code == 200

    response = post(api, f"/api/datasets/{dataset.id}/exports", {"resolution": 1024})

    assert response.status_code == 429
    assert "2 exports per 10 minutes" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 601
    assert response.json()["retry_after"] == int(response["Retry-After"])
    assert DatasetExport.objects.count() == 2


def _files(count):
    files = []
    for n in range(count):
        handle = io.BytesIO(photo_bytes(size=(200, 150), seed=n + 1))
        handle.name = f"p{n}.jpg"
        files.append(handle)
    return files


def test_uploads_past_the_quota_answer_429_and_save_nothing(api, character, settings):
    settings.QUOTAS = {**settings.QUOTAS, "upload": (3, 600)}
    url = f"/api/characters/{character.slug}/images"
    assert api.post(url, {"files": _files(2)}).status_code == 202

    response = api.post(url, {"files": _files(2)})  # 4 > 3: the whole request is refused

    assert response.status_code == 429
    assert "3 photos per 10 minutes and have used 2" in response.json()["detail"]
    assert int(response["Retry-After"]) >= 1
    assert Upload.objects.count() == 2
    assert api.post(url, {"files": _files(1)}).status_code == 202  # the refusal took nothing


def test_quotas_are_per_user(user, settings):
    from tests.factories import UserFactory

    settings.QUOTAS = {**settings.QUOTAS, "export": (1, 600)}
    quotas.take(user=user, kind="export")
    quotas.take(user=UserFactory(), kind="export")
    with pytest.raises(quotas.QuotaExceeded):
        quotas.take(user=user, kind="export")
    quotas.take(user=None, kind="export")  # the command line has no quota


@pytest.mark.django_db(transaction=True)
def test_an_export_asked_for_while_the_same_one_is_being_started_reuses_it(stocked):
    """A double click, or a request sent again, while the first is still being answered."""
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(image__kind="upload"):
        services.update_item(item=item, caption="a person smiling outdoors")
    started, go = threading.Event(), threading.Event()
    answers, errors = {}, []

    def ask(name):
        try:
            with transaction.atomic():  # the first request's transaction stays open a while
                answers[name] = exports.start_export(dataset=dataset, enqueue=False)
                if name == "first":
                    started.set()
                    go.wait(timeout=30)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            started.set()
            connection.close()

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert started.wait(timeout=30)
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    # The second request either answers at once or waits for the first: let the first end then.
    deadline = time.monotonic() + 30
    while second.is_alive() and not _waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    go.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert not errors, errors
    assert DatasetExport.objects.count() == 1
    assert answers["second"].id == answers["first"].id
    assert answers["second"].reused and not answers["first"].reused


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
