"""Schemathesis over every API operation, with a bearer token: no input makes a server error,
and every operation answers 2xx at least once.

Bounded: a few dozen generated requests per operation, in-process through the WSGI app, on
the test database, seeded with real objects of every kind (tests/factories.py): three requests
in four name a real character, image, run, call, upload, dataset, item, export, job, LoRA,
endpoint or delivery, in the path and in the body, so requests reach the services, not only
the 404s. Bodies that must make sense to be accepted start from an example (the explicit
phase). An operation that only ever answered 4xx fails the test: a broken auth or a lookup
that always misses would otherwise pass as a wall of 401s and 404s.
"""

from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from lorastudio.api import api as ninja_api
from lorastudio.celery import app as celery_app
from tests.factories import GenerationRunFactory, ProviderCallFactory, a_bit_of_everything
from training.models import TrainingJob

# Bodies that must make sense to be accepted; ids in them are replaced by real ones.
EXAMPLES = {
    ("post", "/api/characters"): {
        "name": "Fuzzed",
        "trigger_word": "fuzzedone",
        "base_prompt": "orange mannequin",
        "preset": "fitness",
    },
    ("post", "/api/characters/{slug}/variations"): {
        "label": "Arms up",
        "prompt": "arms up",
        "anchor_pose": "hanging",
        "strength": "0.6",
        "count": 2,
    },
    ("put", "/api/characters/{slug}/anchors/{pose}"): {"image_id": 1},
    ("post", "/api/characters/{slug}/runs"): {
        "kind": "anchors",
        "provider": "local",
        "count": 1,
        "dry_run": True,
    },
    ("post", "/api/characters/{slug}/datasets"): {"name": "Fuzzed set"},
    ("post", "/api/datasets/{dataset_id}/items"): {"image_ids": [1]},
    ("post", "/api/datasets/{dataset_id}/replace"): {"find": "fit", "replace": "fit"},
    ("post", "/api/datasets/{dataset_id}/captions"): {"provider": "local", "dry_run": True},
    ("post", "/api/datasets/{dataset_id}/fill-gap"): {"shot": "close", "dry_run": True},
    ("post", "/api/training-jobs"): {"export_id": "x", "provider": "local", "dry_run": True},
    ("put", "/api/characters/{slug}/pin"): {"primary_image_id": 1},
    ("post", "/api/characters/{slug}/likeness-runs"): {"provider": "replicate", "dry_run": True},
    ("post", "/api/runs/{run_id}/approval"): {"approve": False, "reason": "fuzzed"},
    ("post", "/api/webhook-endpoints"): {"url": "http://127.0.0.1:9/hook", "events": []},
}


def _schema() -> dict:
    document = ninja_api.get_openapi_schema()
    for (method, path), body in EXAMPLES.items():
        content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        content["example"] = body
    return document


schema = schemathesis.openapi.from_dict(_schema())
schema.app = get_wsgi_application()
MAX_EXAMPLES = 25


@pytest.fixture
def no_broker():
    """Whatever a request would enqueue goes nowhere: never to a running app's Redis queue."""
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://"
    celery_app._pool = None
    yield
    celery_app.conf.broker_url = saved
    celery_app._pool = None


@pytest.fixture
def connection_kept():
    """As Django's test client does: requests must not close the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def real_objects(character, user, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the example endpoint is on loopback
    settings.REPLICATE_API_TOKEN = "fuzz"  # dry runs of likeness runs need a usable provider
    world = a_bit_of_everything(character, n=1)
    run = GenerationRunFactory(character=character)
    call = ProviderCallFactory(run=run, status="unknown", error="fuzz")  # one to send again
    live_job = TrainingJob.objects.create(  # one to cancel
        character=character, export=world["export"], provider="local", trigger_word="fit"
    )
    held = GenerationRunFactory(character=character, status="held")  # one to decide on
    ProviderCallFactory(run=held, status="held")
    image = world["images"][0]
    return {
        "slug": character.slug,
        "pose": "hanging",
        "image_id": image.id,
        "primary_image_id": image.id,
        "run_id": run.id,
        "held_run_id": held.id,
        "call_id": str(call.id),
        "upload_id": str(world["upload"].id),
        "dataset_id": world["dataset"].id,
        "item_id": world["item"].id,
        "export_id": str(world["export"].id),
        "job_id": live_job.id,
        "lora_id": world["lora"].id,
        "endpoint_id": world["endpoint"].id,
        "delivery_id": str(world["delivery"].id),
        "image_ids": [image.id],
        "reference_image_ids": [world["images"][1].id],
    }


@pytest.fixture
def answers(request):
    """The statuses an operation answered; it must have answered 2xx at least once."""
    seen: dict = {"label": "", "statuses": Counter()}
    yield seen
    if not any(200 <= status < 300 for status in seen["statuses"]):
        pytest.fail(f"{seen['label']} never answered 2xx: {dict(seen['statuses'])}")


def _seed(values: dict | None, real: dict) -> None:
    for name in list(values or {}):
        if name in real:
            values[name] = real[name]


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_a_server_error(
    case, api, real_objects, answers, no_broker, connection_kept
):
    answers["label"] = case.operation.label
    answered = sum(answers["statuses"].values())
    if answered % 4 != 3:  # three in four: real objects; the fourth keeps what was generated
        _seed(case.path_parameters, real_objects)
        if case.operation.path == "/api/runs/{run_id}/approval":
            case.path_parameters["run_id"] = real_objects["held_run_id"]
        if isinstance(case.body, dict):
            _seed(case.body, real_objects)
    response = case.call_and_validate(
        headers={"Authorization": api.defaults["HTTP_AUTHORIZATION"]},
        checks=[not_a_server_error],
    )
    answers["statuses"][response.status_code] += 1
