import pytest

from lorastudio.celery import app


@pytest.fixture
def eager_tasks(transactional_db):
    """Run Celery tasks inline as their transactions commit: the whole chain in-process."""
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False
