"""Schemathesis over every API operation, with a bearer token: no input makes a server error.

Bounded: a few dozen generated requests per operation, in-process through the WSGI app, on
the test database. Path parameters point at real objects half of the time (a character, an
image, a run, a call), so bodies and queries reach the services, not only the 404s.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from lorastudio.api import api as ninja_api
from lorastudio.celery import app as celery_app
from tests.factories import GenerationRunFactory, ImageFactory, ProviderCallFactory

schema = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema())
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
def real_objects(character):
    image = ImageFactory(character=character)
    run = GenerationRunFactory(character=character)
    call = ProviderCallFactory(run=run)
    return {
        "slug": character.slug,
        "pose": "hanging",
        "image_id": image.id,
        "run_id": run.id,
        "call_id": str(call.id),
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_a_server_error(case, api, real_objects, no_broker, connection_kept):
    for name, value in (case.path_parameters or {}).items():
        if name in real_objects and len(str(value)) % 2 == 0:
            case.path_parameters[name] = real_objects[name]
    case.call_and_validate(
        headers={"Authorization": api.defaults["HTTP_AUTHORIZATION"]},
        checks=[not_a_server_error],
    )
