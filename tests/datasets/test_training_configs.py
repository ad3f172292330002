"""The export's trainer configs against the trainers' own sources.

The key lists below are hand-written from the trainers' code (nothing of it is copied): each
entry is the key, its type, whether the trainer requires it, and where the trainer reads it,
as `repo@commit path:line`. The configs are rendered over a grid of image counts and export
resolutions and parsed as the trainers parse them (YAML, TOML); an unknown key, a wrong type,
a missing required key, a bucket range that excludes its resolution, or an output folder inside
the dataset folder fails.
"""

import io
import json
import posixpath
import re
import tomllib
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import yaml
from django.core.files.storage import default_storage

from datasets import exports, services
from datasets import training_configs as tc
from generation.runs import REFERENCE_SEEDS, reference_suite
from training import defaults

AT = "ostris/ai-toolkit@27a03a91f23eb1b757d5ec2e80ee3e129cfcc350"
KS = "kohya-ss/sd-scripts@48d368fa557731ad0488c07304dfeba8c07910eb"
NUMBER = (int, float)


@dataclass(frozen=True)
class K:
    """One key a trainer reads: its type, whether it must be there, where the trainer reads it;
    `children` for a mapping, `items` for a list of mappings."""

    type: type | tuple
    required: bool
    cite: str
    children: dict | None = None
    items: dict | None = None
    choices: tuple = field(default=())


# --- ai-toolkit: the YAML job ------------------------------------------------------------
AI_TOOLKIT_SAMPLE = {
    "prompt": K(str, True, f"{AT} toolkit/config_modules.py:50-51"),
    "seed": K(int, False, f"{AT} toolkit/config_modules.py:55"),
}
AI_TOOLKIT_PROCESS = {
    "type": K(str, True, f"{AT} jobs/BaseJob.py:54-55", choices=("sd_trainer",)),
    "training_folder": K(str, False, f"{AT} jobs/process/BaseTrainProcess.py:43-45"),
    "device": K(str, False, f"{AT} config/examples/train_lora_flux_24gb.yaml:12"),
    "trigger_word": K(str, False, f"{AT} jobs/process/BaseSDTrainProcess.py:135"),
    "network": K(
        dict,
        False,
        f"{AT} jobs/process/BaseSDTrainProcess.py:107",
        children={
            "type": K(str, False, f"{AT} toolkit/config_modules.py:171", choices=("lora",)),
            "linear": K(int, False, f"{AT} toolkit/config_modules.py:173"),
            "linear_alpha": K(NUMBER, False, f"{AT} toolkit/config_modules.py:185"),
        },
    ),
    "save": K(
        dict,
        False,
        f"{AT} jobs/process/BaseSDTrainProcess.py:120",
        children={
            "save_every": K(int, False, f"{AT} toolkit/config_modules.py:25"),
            "dtype": K(str, False, f"{AT} toolkit/config_modules.py:26"),
            "max_step_saves_to_keep": K(int, False, f"{AT} toolkit/config_modules.py:27"),
        },
    ),
    "datasets": K(
        list,
        True,
        f"{AT} jobs/process/BaseSDTrainProcess.py:144",
        items={
            "folder_path": K(str, True, f"{AT} toolkit/config_modules.py:921"),
            "caption_ext": K(str, False, f"{AT} toolkit/config_modules.py:941"),
            "resolution": K((int, list), False, f"{AT} toolkit/config_modules.py:947"),
            "shuffle_tokens": K(bool, False, f"{AT} toolkit/config_modules.py:955"),
            "caption_dropout_rate": K(NUMBER, False, f"{AT} toolkit/config_modules.py:956"),
            "cache_latents_to_disk": K(bool, False, f"{AT} toolkit/config_modules.py:1006"),
        },
    ),
    "train": K(
        dict,
        False,
        f"{AT} jobs/process/BaseSDTrainProcess.py:112",
        children={
            "noise_scheduler": K(str, False, f"{AT} toolkit/config_modules.py:377"),
            "steps": K(int, False, f"{AT} toolkit/config_modules.py:380"),
            "lr": K(float, False, f"{AT} toolkit/config_modules.py:381"),
            "optimizer": K(str, False, f"{AT} toolkit/config_modules.py:387"),
            "batch_size": K(int, False, f"{AT} toolkit/config_modules.py:393"),
            "dtype": K(str, False, f"{AT} toolkit/config_modules.py:395"),
            "train_unet": K(bool, False, f"{AT} toolkit/config_modules.py:400"),
            "train_text_encoder": K(bool, False, f"{AT} toolkit/config_modules.py:401"),
            "gradient_checkpointing": K(bool, False, f"{AT} toolkit/config_modules.py:413"),
            "gradient_accumulation_steps": K(int, False, f"{AT} toolkit/config_modules.py:456"),
            "ema_config": K(
                dict,
                False,
                f"{AT} toolkit/config_modules.py:543",
                children={
                    "use_ema": K(bool, False, f"{AT} toolkit/config_modules.py:827"),
                    "ema_decay": K(float, False, f"{AT} toolkit/config_modules.py:828"),
                },
            ),
        },
    ),
    "model": K(
        dict,
        True,
        f"{AT} jobs/process/BaseSDTrainProcess.py:113",
        children={
            "name_or_path": K(str, True, f"{AT} toolkit/config_modules.py:628"),
            "is_flux": K(bool, False, f"{AT} toolkit/config_modules.py:637"),
            "quantize": K(bool, False, f"{AT} toolkit/config_modules.py:685"),
        },
    ),
    "sample": K(
        dict,
        False,
        f"{AT} jobs/process/BaseSDTrainProcess.py:121",
        children={
            "sampler": K(str, False, f"{AT} toolkit/config_modules.py:81"),
            "sample_every": K(int, False, f"{AT} toolkit/config_modules.py:82"),
            "width": K(int, False, f"{AT} toolkit/config_modules.py:84"),
            "height": K(int, False, f"{AT} toolkit/config_modules.py:85"),
            "neg": K(str, False, f"{AT} toolkit/config_modules.py:86"),
            "walk_seed": K(bool, False, f"{AT} toolkit/config_modules.py:88"),
            "guidance_scale": K(NUMBER, False, f"{AT} toolkit/config_modules.py:89"),
            "sample_steps": K(int, False, f"{AT} toolkit/config_modules.py:90"),
            "samples": K(
                list, False, f"{AT} toolkit/config_modules.py:111-112", items=AI_TOOLKIT_SAMPLE
            ),
            # the older form, read too: prompts without seeds, one seed for all
            "prompts": K(list, False, f"{AT} toolkit/config_modules.py:104"),
            "seed": K(int, False, f"{AT} toolkit/config_modules.py:87"),
        },
    ),
}
AI_TOOLKIT = {
    "job": K(str, True, f"{AT} toolkit/config.py:39-40", choices=("extension",)),
    "config": K(
        dict,
        True,
        f"{AT} toolkit/config.py:41-42",
        children={
            "name": K(str, True, f"{AT} jobs/BaseJob.py:18"),
            "process": K(list, True, f"{AT} jobs/BaseJob.py:44-47", items=AI_TOOLKIT_PROCESS),
        },
    ),
    "meta": K(
        dict,
        False,
        f"{AT} config/examples/train_lora_flux_24gb.yaml:95-97",
        children={
            "name": K(str, False, f"{AT} config/examples/train_lora_flux_24gb.yaml:96"),
            "version": K(str, False, f"{AT} config/examples/train_lora_flux_24gb.yaml:97"),
        },
    ),
}

# --- sd-scripts: the training arguments (flux_train_network.py reads the TOML as its argv,
# library/train_util.py:4700-4764) and the dataset config (library/config_util.py) ----------
KOHYA_CONFIG = {
    "pretrained_model_name_or_path": K(str, True, f"{KS} library/train_util.py:3650"),
    "clip_l": K(str, True, f"{KS} library/flux_train_utils.py:619"),
    "t5xxl": K(str, True, f"{KS} library/flux_train_utils.py:624"),
    "ae": K(str, True, f"{KS} library/flux_train_utils.py:628"),
    "dataset_config": K(str, True, f"{KS} library/config_util.py:47"),
    "output_dir": K(str, True, f"{KS} library/train_util.py:3796"),
    "output_name": K(str, False, f"{KS} library/train_util.py:3799"),
    "save_model_as": K(
        str, False, f"{KS} train_network.py:1756-1760", choices=("ckpt", "pt", "safetensors")
    ),
    "network_module": K(str, True, f"{KS} train_network.py:1782"),
    "network_dim": K(int, False, f"{KS} train_network.py:1785"),
    "network_alpha": K(NUMBER, False, f"{KS} train_network.py:1791-1793"),
    "network_train_unet_only": K(bool, False, f"{KS} train_network.py:1810"),
    "learning_rate": K(float, False, f"{KS} library/train_util.py:3701"),
    "optimizer_type": K(str, False, f"{KS} library/train_util.py:3679"),
    "lr_scheduler": K(str, False, f"{KS} library/train_util.py:3741"),
    "max_train_steps": K(int, False, f"{KS} library/train_util.py:3952"),
    "max_train_epochs": K(int, False, f"{KS} library/train_util.py:3954"),
    "save_every_n_epochs": K(int, False, f"{KS} library/train_util.py:3847"),
    "save_every_n_steps": K(int, False, f"{KS} library/train_util.py:3853"),
    "mixed_precision": K(
        str, False, f"{KS} library/train_util.py:3981-3985", choices=("no", "fp16", "bf16")
    ),
    "save_precision": K(
        str, False, f"{KS} library/train_util.py:3840-3844", choices=("float", "fp16", "bf16")
    ),
    "fp8_base": K(bool, False, f"{KS} library/train_util.py:3998"),
    "gradient_checkpointing": K(bool, False, f"{KS} library/train_util.py:3972"),
    "sdpa": K(bool, False, f"{KS} library/train_util.py:3941"),
    "cache_latents_to_disk": K(bool, False, f"{KS} library/train_util.py:4575"),
    "cache_text_encoder_outputs": K(bool, False, f"{KS} library/train_util.py:4254"),
    "cache_text_encoder_outputs_to_disk": K(bool, False, f"{KS} library/train_util.py:4257"),
    "timestep_sampling": K(
        str,
        False,
        f"{KS} library/flux_train_utils.py:656-658",
        choices=("sigma", "uniform", "sigmoid", "shift", "flux_shift"),
    ),
    "discrete_flow_shift": K(float, False, f"{KS} library/flux_train_utils.py:678"),
    "model_prediction_type": K(
        str,
        False,
        f"{KS} library/flux_train_utils.py:669-671",
        choices=("raw", "additive", "sigma_scaled"),
    ),
    "guidance_scale": K(float, False, f"{KS} library/flux_train_utils.py:649"),
    "seed": K(int, False, f"{KS} library/train_util.py:3970"),
    "sample_prompts": K(str, False, f"{KS} library/train_util.py:4191"),
    "sample_every_n_steps": K(int, False, f"{KS} library/train_util.py:4176"),
    "sample_sampler": K(str, False, f"{KS} library/train_util.py:4197-4215"),
}
KOHYA_SUBSET = {
    "image_dir": K(str, True, f"{KS} library/config_util.py:215"),
    # a fine-tuning subset: its images and captions listed in a JSON file
    "metadata_file": K(str, False, f"{KS} library/config_util.py:221"),
    "num_repeats": K(int, False, f"{KS} library/config_util.py:187"),
}
KOHYA_DATASET = {
    "general": K(
        dict,
        False,
        f"{KS} library/config_util.py:356",
        children={
            "caption_extension": K(str, False, f"{KS} library/config_util.py:210"),
            "shuffle_caption": K(bool, False, f"{KS} library/config_util.py:189"),
            "keep_tokens": K(int, False, f"{KS} library/config_util.py:190"),
            "caption_dropout_rate": K(NUMBER, False, f"{KS} library/config_util.py:205"),
        },
    ),
    "datasets": K(
        list,
        True,
        f"{KS} library/config_util.py:357",
        items={
            "resolution": K(int, False, f"{KS} library/config_util.py:244"),
            "batch_size": K(int, False, f"{KS} library/config_util.py:236"),
            "enable_bucket": K(bool, False, f"{KS} library/config_util.py:239"),
            "bucket_no_upscale": K(bool, False, f"{KS} library/config_util.py:237"),
            "bucket_reso_steps": K(int, False, f"{KS} library/config_util.py:238"),
            "min_bucket_reso": K(int, False, f"{KS} library/config_util.py:241"),
            "max_bucket_reso": K(int, False, f"{KS} library/config_util.py:240"),
            "subsets": K(list, True, f"{KS} library/config_util.py:318", items=KOHYA_SUBSET),
        },
    ),
}

# One sample prompt, as sd-scripts' FLUX sampler reads it (a .json prompt file is a list of
# these: library/train_util.py:6339-6341).
KOHYA_PROMPT = {
    "prompt": K(str, True, f"{KS} library/flux_train_utils.py:162"),
    "width": K(int, False, f"{KS} library/flux_train_utils.py:156"),
    "height": K(int, False, f"{KS} library/flux_train_utils.py:157"),
    "seed": K(int, False, f"{KS} library/flux_train_utils.py:160"),
    "sample_steps": K(int, False, f"{KS} library/flux_train_utils.py:155"),
    "guidance_scale": K(NUMBER, False, f"{KS} library/flux_train_utils.py:158"),
}

# The scripts the "how to run" lines call, at the top of each checkout at the commits above.
AI_TOOLKIT_SCRIPT = "run.py"  # ostris/ai-toolkit@27a03a9 run.py
KOHYA_SCRIPT = "flux_train_network.py"  # kohya-ss/sd-scripts@48d368f flux_train_network.py


def problems(value, schema: dict, where: str = "") -> list[str]:
    """What breaks `schema` in `value`: unknown keys, wrong types, missing required keys."""
    found = []
    for name in value:
        if name not in schema:
            found.append(f"{where}{name}: unknown key")
    for name, key in schema.items():
        path = f"{where}{name}"
        if name not in value:
            if key.required:
                found.append(f"{path}: missing, required ({key.cite})")
            continue
        item = value[name]
        if isinstance(item, bool) and key.type in (int, float, NUMBER):
            found.append(f"{path}: a bool where {key.type} is read ({key.cite})")
        elif not isinstance(item, key.type):
            found.append(f"{path}: {type(item).__name__}, not {key.type} ({key.cite})")
        elif key.choices and item not in key.choices:
            found.append(f"{path}: {item!r} is not one of {key.choices} ({key.cite})")
        elif key.children is not None:
            found += problems(item, key.children, f"{path}.")
        elif key.items is not None:
            for i, entry in enumerate(item):
                found += problems(entry, key.items, f"{path}[{i}].")
    return found


def kohya_bucket_problems(dataset: dict) -> list[str]:
    """sd-scripts rounds min_bucket_reso down and max_bucket_reso up to bucket_reso_steps,
    then asserts min <= resolution <= max (library/train_util.py:747-773)."""
    steps = dataset.get("bucket_reso_steps", 64)
    low = dataset["min_bucket_reso"] - dataset["min_bucket_reso"] % steps
    high = dataset["max_bucket_reso"]
    high += (steps - high % steps) % steps
    size = dataset["resolution"]
    return [] if low <= size <= high else [f"bucket {low}-{high} excludes {size}"]


def inside(path: str, folder: str) -> bool:
    path, folder = posixpath.normpath(path), posixpath.normpath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


EXPORT_DIR = "/data/exports/ava-1"  # where a user unzipped it: relative paths resolve here
IMAGE_COUNTS = [1, 19, 20, 30, 51, 101, 751, 1000]
RESOLUTIONS = [256, 300, 512, 768, 1000, 1024, 1536, 2048, 3000, 4096]
SAMPLES = [
    tc.Sample(shot, prompt, seed)
    for shot, prompt, seed in reference_suite(base_prompt="photo, studio", trigger_word="ava")
]


def _configs(images: int, resolution: int, preset: str):
    recipe = tc.recipe_for(images=images, preset=preset, export_resolution=resolution)
    return (
        recipe,
        yaml.safe_load(
            tc.ai_toolkit_yaml(name="ava-1", trigger="ava", recipe=recipe, samples=SAMPLES)
        ),
        tomllib.loads(tc.kohya_config_toml(name="ava-1", recipe=recipe)),
        tomllib.loads(tc.kohya_dataset_toml(recipe=recipe)),
    )


def test_the_key_lists_cite_a_source_for_every_key():
    def walk(schema):
        for name, key in schema.items():
            assert re.match(r"^[\w-]+/[\w.-]+@[0-9a-f]{40} \S+:\d+(-\d+)?$", key.cite), name
            for sub in (key.children, key.items):
                if sub:
                    walk(sub)

    for schema in (AI_TOOLKIT, KOHYA_CONFIG, KOHYA_DATASET, KOHYA_PROMPT):
        walk(schema)


def test_the_checker_catches_an_unknown_key_a_wrong_type_and_a_missing_key():
    recipe, config, _, _ = _configs(20, 1024, "character")
    process = config["config"]["process"][0]
    process["train"]["learning_rate"] = 1e-4  # ai-toolkit reads `lr`
    process["network"]["linear"] = "16"
    del process["model"]["name_or_path"]
    found = problems(config, AI_TOOLKIT)
    assert any("train.learning_rate: unknown key" in p for p in found)
    assert any("network.linear: str" in p for p in found)
    assert any("model.name_or_path: missing" in p for p in found)
    assert kohya_bucket_problems(
        {"resolution": 1024, "min_bucket_reso": 256, "max_bucket_reso": 960}
    )


@pytest.mark.parametrize("preset", list(tc.PRESETS))
@pytest.mark.parametrize("images", IMAGE_COUNTS)
def test_the_configs_follow_the_trainers_key_lists_over_every_size(images, preset):
    for resolution in RESOLUTIONS:
        recipe, ai_toolkit, kohya, kohya_data = _configs(images, resolution, preset)
        where = f"{images} images at {resolution}px ({preset})"

        assert problems(ai_toolkit, AI_TOOLKIT) == [], where
        assert problems(kohya, KOHYA_CONFIG) == [], where
        assert problems(kohya_data, KOHYA_DATASET) == [], where

        # Both trainers train the same sizes, never above the export's own.
        process = ai_toolkit["config"]["process"][0]
        sizes = process["datasets"][0]["resolution"]
        assert [d["resolution"] for d in kohya_data["datasets"]] == sizes, where
        assert sizes and max(sizes) <= resolution, where
        for dataset in kohya_data["datasets"]:
            assert kohya_bucket_problems(dataset) == [], where
            assert dataset["bucket_no_upscale"] is True, where

        # Outputs resolve outside the folder each trainer walks for images.
        data_dir = posixpath.join(EXPORT_DIR, process["datasets"][0]["folder_path"])
        save_root = posixpath.join(
            EXPORT_DIR, process["training_folder"], ai_toolkit["config"]["name"]
        )
        assert not inside(save_root, data_dir), (where, save_root)
        kohya_out = posixpath.join(EXPORT_DIR, kohya["output_dir"])
        for dataset in kohya_data["datasets"]:
            for subset in dataset["subsets"]:
                assert not inside(kohya_out, posixpath.join(EXPORT_DIR, subset["image_dir"]))


def test_both_configs_train_the_recipe_the_app_trains_with():
    recipe, ai_toolkit, kohya, kohya_data = _configs(30, 1024, "character")
    app = defaults.defaults_for(image_count=30, preset="character", export_resolution=1024)
    process = ai_toolkit["config"]["process"][0]

    assert process["network"]["linear"] == kohya["network_dim"] == app.rank == 16
    # alpha = rank, as Replicate's trainer sets it (flux-fine-tuner train.py:268-272)
    assert process["network"]["linear_alpha"] == kohya["network_alpha"] == app.rank
    assert Decimal(str(process["train"]["lr"])) == Decimal(str(kohya["learning_rate"]))
    assert Decimal(str(kohya["learning_rate"])) == app.learning_rate
    assert process["train"]["steps"] == kohya["max_train_steps"] == app.steps
    assert process["train"]["batch_size"] == app.batch_size
    assert ",".join(str(s) for s in process["datasets"][0]["resolution"]) == app.resolution
    # EMA as ai-toolkit's FLUX example and Replicate's trainer use it (decay 0.99)
    assert process["train"]["ema_config"] == {"use_ema": True, "ema_decay": 0.99}

    fashion = _configs(30, 1024, "fashion")[1]["config"]["process"][0]
    assert fashion["train"]["lr"] == 0.0004 and fashion["train"]["steps"] == 1000


def test_a_small_learning_rate_stays_a_float_in_yaml():
    recipe = tc.Recipe(
        preset="character",
        images=10,
        steps=1000,
        learning_rate=Decimal("0.00001"),
        rank=16,
        resolution="1024",
        batch_size=1,
        create_masks=True,
        is_style=False,
    )
    config = yaml.safe_load(tc.ai_toolkit_yaml(name="n", trigger="t", recipe=recipe, samples=[]))
    assert config["config"]["process"][0]["train"]["lr"] == 0.00001


def test_the_samples_are_the_reference_suite_with_its_seeds():
    _, ai_toolkit, kohya, _ = _configs(20, 1024, "character")
    samples = ai_toolkit["config"]["process"][0]["sample"]["samples"]
    assert [(s["prompt"], s["seed"]) for s in samples] == [(s.prompt, s.seed) for s in SAMPLES]
    assert [s["seed"] for s in samples] == list(REFERENCE_SEEDS.values())
    assert all("ava" in s["prompt"] for s in samples)

    prompts = json.loads(tc.kohya_prompts_json(SAMPLES))
    for prompt, sample in zip(prompts, SAMPLES, strict=True):
        assert problems(prompt, KOHYA_PROMPT) == []
        assert (prompt["prompt"], prompt["seed"]) == (sample.prompt, sample.seed)


# --- On a built export -------------------------------------------------------------------
@pytest.fixture
def built(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(image__kind="upload"):
        services.update_item(item=item, caption="a person smiling outdoors in natural light")
    export = exports.start_export(dataset=dataset, enqueue=False)
    export = exports.build_export(export.id)
    with default_storage.open(export.archive.name, "rb") as handle:
        return export, zipfile.ZipFile(io.BytesIO(handle.read()))


KNOWN_JSON = {"metadata.json", "shots.json", "concepts.json", "manifest.json"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@pytest.mark.django_db
def test_the_zip_layout_is_what_every_trainer_walks(built):
    export, archive = built
    names = archive.namelist()
    images = [n for n in names if n.lower().endswith(IMAGE_SUFFIXES)]

    assert len(images) == export.image_count
    assert all("/" not in n for n in images), "an image outside the top level"
    for image in images:
        stem = image.rsplit(".", 1)[0]
        caption = archive.read(f"{stem}.txt").decode()
        assert caption.endswith("\n") and caption.count("\n") == 1 and caption.strip(), image
    top = {n.split("/", 1)[0] + ("/" if "/" in n else "") for n in names}
    captions = {n for n in top if n.endswith(".txt")}
    assert top - set(images) - captions == KNOWN_JSON | {"train/"}
    assert {n.rsplit(".", 1)[0] for n in captions} == {n.rsplit(".", 1)[0] for n in images}


@pytest.mark.django_db
def test_the_how_to_run_lines_name_files_the_export_holds(built):
    export, archive = built
    names = set(archive.namelist())
    ai_toolkit = archive.read("train/ai-toolkit.yaml").decode()
    kohya = archive.read("train/kohya_config.toml").decode()

    command = re.search(r"python (\S+) (\S+)", ai_toolkit)
    assert command and command[1].endswith("/" + AI_TOOLKIT_SCRIPT) and command[2] in names
    command = re.search(r"accelerate launch (\S+) --config_file (\S+)", kohya)
    assert command and command[1].endswith("/" + KOHYA_SCRIPT) and command[2] in names
    assert "cd path/to/this-export" in ai_toolkit and "cd path/to/this-export" in kohya

    config = tomllib.loads(kohya)
    assert config["dataset_config"] in names and config["sample_prompts"] in names
    data = tomllib.loads(archive.read(config["dataset_config"]).decode())
    assert {s["image_dir"] for d in data["datasets"] for s in d["subsets"]} == {"."}
    process = yaml.safe_load(ai_toolkit)["config"]["process"][0]
    assert process["datasets"][0]["folder_path"] == "."


@pytest.mark.django_db
def test_the_exported_recipe_is_the_one_training_on_the_export_uses(built, settings):
    from training import services as training

    export, archive = built
    plan = training.plan_training(export=export, provider="local")
    process = yaml.safe_load(archive.read("train/ai-toolkit.yaml"))["config"]["process"][0]
    manifest = json.loads(archive.read("manifest.json"))

    assert manifest["training_recipe"]["preset"] == plan.preset == "fashion"
    assert process["train"]["steps"] == plan.params.steps
    assert process["network"]["linear"] == plan.params.rank
    assert Decimal(str(process["train"]["lr"])) == plan.params.learning_rate
    samples = process["sample"]["samples"]
    character = export.dataset.character
    assert (
        samples[0]["prompt"]
        == reference_suite(base_prompt=character.base_prompt, trigger_word=character.trigger_word)[
            0
        ][1]
    )


@pytest.mark.django_db
def test_kohya_repeats_the_rarer_shot_types_from_shots_json(built):
    export, archive = built
    names = set(archive.namelist())
    shots = json.loads(archive.read("shots.json"))  # 14 far, 3 close, 3 mid
    data = tomllib.loads(archive.read("train/kohya_dataset.toml").decode())

    for dataset in data["datasets"]:
        repeats = {}
        for subset in dataset["subsets"]:
            assert subset["metadata_file"] in names and subset["image_dir"] == "."
            listed = json.loads(archive.read(subset["metadata_file"]))
            kinds = {shots[name]["shot_type"] for name in listed}
            assert len(kinds) == 1, kinds
            repeats[kinds.pop()] = subset["num_repeats"]
            for name, entry in listed.items():  # the same caption as the image's .txt
                assert (
                    archive.read(name.rsplit(".", 1)[0] + ".txt").decode()
                    == entry["caption"] + "\n"
                )
        assert repeats == {"far": 1, "close": 4, "mid": 4}  # 14 // 3
    listed = set()
    for subset in data["datasets"][0]["subsets"]:
        listed |= set(json.loads(archive.read(subset["metadata_file"])))
    assert listed == set(shots)  # every image once, in exactly one shot type


def test_even_shot_types_need_no_repeats():
    assert tc.shot_repeats({"close": ["a", "b"], "mid": ["c", "d"], "far": ["e", "f", "g"]}) == {}
    assert tc.shot_repeats({"far": ["a", "b", "c"]}) == {}
    assert tc.shot_repeats({"far": list("abcdefgh"), "close": ["x"]}) == {"far": 1, "close": 4}
