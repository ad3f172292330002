"""What each provider's trainer takes, within which limits, and what is sent and stored.

Limits come from the catalog, which cites the trainers' own sources (Replicate's
ostris/flux-dev-lora-trainer is replicate/flux-fine-tuner; fal's is its typed schema in
fal-ai/fal-js). The end-to-end tests go through the real SDKs against the protocol fakes,
which refuse what the real trainers refuse (and inputs they would silently ignore).
"""

import re
from decimal import Decimal

import pytest

from generation.inputs import build_task
from generation.providers.catalog import trainer_for, training_limit
from generation.providers.fal import FalProvider
from generation.providers.replicate import ReplicateProvider
from tests.factories import DatasetFactory, ReadyExportFactory
from tests.fakes.fal import TRAINER_INPUTS as FAL_INPUTS
from tests.fakes.replicate import TRAINER_INPUTS as REPLICATE_INPUTS
from training import services
from training.models import TrainingJob

from .test_providers import FAL_TRAINER, launch

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(settings):
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN, settings.REPLICATE_OWNER = "k", "t", "me"
    settings.PUBLIC_BASE_URL = "https://studio.example"  # the zip goes as a signed link


def _export(character, count):
    # A small real zip; the count is what the recipe and the limits read.
    return ReadyExportFactory(
        dataset=DatasetFactory(character=character), image_count_=4, image_count=count
    )


def test_the_catalog_gives_replicates_documented_ranges_with_their_source():
    steps = training_limit("replicate", "steps")
    assert (steps.low, steps.high) == (100, 6000)
    assert "flux-fine-tuner@3dd14e3" in steps.source and "train.py:125-130" in steps.source
    rank = trainer_for("replicate").limit("rank")
    assert (rank.low, rank.high) == (1, 128) and "train.py:141-146" in rank.source
    dropout = trainer_for("replicate").limit("caption_dropout")
    assert (dropout.low, dropout.high) == (0, 1) and "train.py:147-152" in dropout.source
    assert trainer_for("fal").takes == {"steps"}
    assert trainer_for("fal").min_images == 4 and "endpoints.ts:14331" in (
        trainer_for("fal").min_images_source
    )
    assert trainer_for("replicate").recommended_images == 10


@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_every_setting_a_trainer_takes_has_its_documented_range_cited(provider):
    trainer = trainer_for(provider)
    for setting in trainer.takes:
        limit = trainer.limit(setting)
        assert limit is not None, setting
        assert re.search(r"[\w-]+/[\w.-]+@[0-9a-f]{40} \S+:\d+(-\d+)?", limit.source), setting


def test_replicate_clamps_the_recipes_6008_steps_for_751_images_and_says_so(character, keys):
    export = _export(character, 751)
    plan = services.plan_training(export=export, provider="replicate", preset="character")

    assert plan.params.steps == 6008  # seed 002: 751 images x 4 x 8 epochs / batch 4
    assert plan.sent["steps"] == 6000
    assert any("6008 steps" in n and "clamped to 6000" in n for n in plan.notes)
    assert plan.estimate.seconds == round(1200 * 6000 / 1000)


def test_steps_typed_beyond_replicates_limit_are_refused_naming_it(export, keys):
    with pytest.raises(services.TrainingRefused, match="from 100 to 6000"):
        services.plan_training(export=export, provider="replicate", steps=7000)
    # fal documents no bound: ours apply
    assert services.plan_training(export=export, provider="fal", steps=7000).sent["steps"] == 7000


def test_fal_is_sent_only_what_its_trainer_takes_and_the_job_stores_that(export, user, keys):
    plan = services.plan_training(export=export, provider="fal", preset="character")
    assert plan.sent == {"steps": plan.params.steps}
    assert plan.not_sent == ["learning rate", "rank", "resolution", "batch size"]

    job = services.launch_training(plan=plan, created_by=user)
    job.refresh_from_db()
    assert (job.learning_rate, job.rank, job.resolution, job.batch_size) == (None,) * 4
    request = FalProvider().build(build_task(job.call))
    assert set(request.input) <= set(FAL_INPUTS[FAL_TRAINER])
    assert request.input["data_archive_format"] == "zip"  # our signed URL ends .zip?expires=…
    assert request.input["steps"] == job.steps


def test_a_setting_fal_does_not_take_is_refused_not_ignored(export, keys):
    with pytest.raises(services.TrainingRefused, match="does not take the learning rate, rank"):
        services.plan_training(export=export, provider="fal", learning_rate="0.0004", rank=32)


def test_replicate_is_sent_every_setting_with_its_own_names(export, user, keys):
    plan = services.plan_training(export=export, provider="replicate", preset="character")
    job = services.launch_training(plan=plan, created_by=user)
    job.refresh_from_db()
    assert (job.rank, job.learning_rate, job.resolution) == (16, Decimal("0.0001"), "512,768,1024")
    request = ReplicateProvider().build(build_task(job.call))
    assert set(request.input) <= set(REPLICATE_INPUTS)
    assert request.input["lora_rank"] == 16 and request.input["learning_rate"] == 0.0001


@pytest.mark.parametrize(
    "preset, create_masks, is_style",
    [("character", True, False), ("fashion", False, False), ("style", False, True)],
)
def test_the_preset_sets_fals_masks_and_style(export, user, keys, preset, create_masks, is_style):
    plan = services.plan_training(export=export, provider="fal", preset=preset)
    job = services.launch_training(plan=plan, created_by=user)
    request = FalProvider().build(build_task(job.call))
    assert (request.input["create_masks"], request.input["is_style"]) == (create_masks, is_style)


def test_fewer_images_than_fal_takes_are_refused_before_anything_is_saved(character, keys):
    export = _export(character, 3)
    with pytest.raises(services.TrainingRefused, match="at least 4 images"):
        services.plan_training(export=export, provider="fal")
    assert not TrainingJob.objects.exists()


def test_fewer_images_than_replicate_recommends_is_a_warning(export, keys):
    plan = services.plan_training(export=export, provider="replicate")
    assert plan.warnings and "recommends at least 10 images" in plan.warnings[0]


def test_a_dry_run_shows_what_is_sent_and_what_is_not(api, export, keys):
    response = api.post(
        "/api/training-jobs",
        {"export_id": str(export.id), "provider": "fal", "dry_run": True},
        content_type="application/json",
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["rank"] is None and body["learning_rate"] is None
    assert body["not_sent"] == ["learning rate", "rank", "resolution", "batch size"]


# --- End to end, through the SDKs and the fakes ------------------------------------------
@pytest.mark.usefixtures("eager_tasks")
def test_a_751_image_training_on_replicate_is_accepted_by_its_trainer(
    replicate_ready,
    character,
    user,
    finish,
):
    export = _export(character, 751)
    job = finish(launch(export, user, "replicate", preset="character"))
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert job.steps == 6000 and job.call.request["steps"] == 6000


@pytest.mark.usefixtures("eager_tasks")
def test_steps_beyond_the_limit_would_fail_at_replicate(replicate_ready, export, user, finish):
    plan = services.plan_training(export=export, provider="replicate")
    plan.sent["steps"] = 6001  # what the planner sent before it knew the trainer's limit
    job = finish(services.launch_training(plan=plan, created_by=user))
    assert job.status == TrainingJob.Status.FAILED
    assert "input.steps: Must be less than or equal to 6000" in job.error


@pytest.mark.usefixtures("eager_tasks")
def test_a_fal_training_sends_what_fals_schema_names(fal, export, user, finish):
    job = finish(launch(export, user, "fal", preset="style"))
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    sent = fal.last_job(FAL_TRAINER).input
    assert set(sent) <= set(FAL_INPUTS[FAL_TRAINER])
    assert (sent["is_style"], sent["create_masks"], sent["data_archive_format"]) == (
        True,
        False,
        "zip",
    )
