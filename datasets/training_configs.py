"""The training recipe, one for every trainer: the hosted trainings (training.defaults) and
the ready configs in each export for one's own GPU, ai-toolkit (YAML) and kohya_ss
sd-scripts (TOML), both FLUX.1-dev.

A recipe is a preset (character, fashion, style) applied to an image count and the export's
resolution. Where the numbers come from:
- steps and batch size by image count: seed 002's smart defaults (epochs <20 images: 20,
  20–50: 15, 50–100: 10, 100+: 8; batch <30: 1, 30–100: 2, 100+: 4), each image seen 4 times
  an epoch (our addition, so 10–60 images land at the 800–1,500 steps FLUX LoRA guides give);
- learning rate, rank and resolutions: the preset (seeds 002, 003, 004; see PRESETS);
- alpha = rank, as Replicate's trainer sets it (replicate/flux-fine-tuner@3dd14e3
  train.py:268-272) and ai-toolkit's FLUX example does (ostris/ai-toolkit@27a03a9
  config/examples/train_lora_flux_24gb.yaml:16-19);
- EMA with decay 0.99, as both of those use it (flux-fine-tuner train.py:303;
  train_lora_flux_24gb.yaml:58-60); kohya's LoRA script has no EMA;
- sample prompts: the app's reference suite (generation.runs.REFERENCE_SHOTS, each with its
  fixed seed), so a run on one's own GPU lines up with the compare page.

How the configs run (both trainers resolve relative paths from the working directory, and
their scripts live in their own checkouts): from the unzipped export folder,
    python path/to/ai-toolkit/run.py train/ai-toolkit.yaml
    accelerate launch path/to/sd-scripts/flux_train_network.py --config_file train/kohya_config.toml
Outputs go beside the export, never inside it: ai-toolkit walks its dataset folder
recursively (ostris/ai-toolkit@27a03a9 toolkit/data_loader.py:439-441), so samples saved
inside would be trained on by the next run.
"""

import json
import math
from dataclasses import dataclass
from decimal import Decimal

FLUX_MODEL = "black-forest-labs/FLUX.1-dev"
REPEATS = 4
MIN_STEPS = 100  # catalog.OUR_LIMITS["steps"].low: fewer trains nothing useful
MAX_STEPS = 10000
EMA_DECAY = 0.99
CAPTION_DROPOUT = (
    0.05  # Replicate's default (flux-fine-tuner train.py:147-152), ai-toolkit's example
)
# The reference renders' size and sampling (fal-ai/flux-lora: portrait_4_3, 28 steps, 3.5).
SAMPLE_WIDTH, SAMPLE_HEIGHT, SAMPLE_STEPS, SAMPLE_GUIDANCE = 768, 1024, 28, 3.5
# The lines that run the configs, from the unzipped export (the scripts are the trainers'
# own: ostris/ai-toolkit@27a03a9 run.py, kohya-ss/sd-scripts@48d368f flux_train_network.py).
AI_TOOLKIT_RUN = "cd path/to/this-export && python path/to/ai-toolkit/run.py train/ai-toolkit.yaml"
KOHYA_RUN = (
    "cd path/to/this-export && accelerate launch path/to/sd-scripts/flux_train_network.py "
    "--config_file train/kohya_config.toml"
)


@dataclass(frozen=True)
class Defaults:
    images: int
    epochs: int
    batch_size: int
    repeats: int
    steps: int


def smart_defaults(images: int) -> Defaults:
    """Seed 002: epochs and batch size by image count, and the steps they make."""
    images = max(images, 1)
    epochs = 20 if images < 20 else 15 if images <= 50 else 10 if images <= 100 else 8
    batch = 1 if images < 30 else 2 if images <= 100 else 4
    steps = max(1, math.ceil(images * REPEATS * epochs / batch))
    return Defaults(images=images, epochs=epochs, batch_size=batch, repeats=REPEATS, steps=steps)


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    description: str
    learning_rate: Decimal
    rank: int
    resolution: str
    fixed_steps: int | None = None  # None: steps by image count
    create_masks: bool = True  # fal: weight the loss by the face mask (a person's likeness)
    is_style: bool = False  # fal: a look, not a subject (no masks, no auto-captions)


PRESETS = {
    p.key: p
    for p in [
        Preset(
            "character",
            "Character",
            "Face and body identity across poses: lr 1e-4, rank 16, 512–1024 px.",
            Decimal("0.0001"),
            16,
            "512,768,1024",
        ),
        Preset(  # seed 003's full-body settings; users read the description, not seed names
            "fashion",
            "Full-body fashion",
            "Head-to-toe model for fashion shots: 1000 steps, lr 4e-4, rank 16, "
            "768 and 1024 px; the whole figure counts, not the face alone.",
            Decimal("0.0004"),
            16,
            "768,1024",
            fixed_steps=1000,
            create_masks=False,
        ),
        Preset(
            "style",
            "Style",
            "A look rather than a person: rank 32 for more capacity, lr 1e-4, 1024 px.",
            Decimal("0.0001"),
            32,
            "1024",
            create_masks=False,
            is_style=True,
        ),
    ]
}


def suggested_preset(shots: dict[str, int]) -> str:
    """Mostly far (full-body) shots suggest the fashion preset, anything else a character."""
    total = sum(shots.values())
    if total and shots.get("far", 0) * 2 >= total:
        return "fashion"
    return "character"


def steps_for(image_count: int) -> int:
    """Seed 002's steps for this many images, within our outer limits (a provider's own
    limit is applied when a training is planned on it)."""
    return min(MAX_STEPS, max(MIN_STEPS, smart_defaults(image_count).steps))


def resolution_for(preset_resolution: str, export_resolution: int | None) -> str:
    """The preset's resolutions, without those above the export's (never upscale)."""
    if not export_resolution:
        return preset_resolution
    kept = [s for s in (int(x) for x in preset_resolution.split(",")) if s <= export_resolution]
    return ",".join(str(s) for s in kept) if kept else str(export_resolution)


@dataclass(frozen=True)
class Recipe:
    preset: str
    images: int
    steps: int
    learning_rate: Decimal
    rank: int
    resolution: str  # comma-separated sizes
    batch_size: int
    create_masks: bool
    is_style: bool
    caption_dropout: float = CAPTION_DROPOUT
    ema_decay: float = EMA_DECAY

    @property
    def alpha(self) -> int:
        return self.rank  # Replicate's rule (flux-fine-tuner train.py:268-272)

    @property
    def resolutions(self) -> list[int]:
        return [int(s) for s in self.resolution.split(",")]

    def as_manifest(self) -> dict:
        return {
            "preset": self.preset,
            "steps": self.steps,
            "learning_rate": str(self.learning_rate),
            "rank": self.rank,
            "alpha": self.alpha,
            "resolution": self.resolution,
            "batch_size": self.batch_size,
            "caption_dropout": self.caption_dropout,
            "ema_decay": self.ema_decay,
            "create_masks": self.create_masks,
            "is_style": self.is_style,
        }


def recipe_for(*, images: int, preset: str, export_resolution: int | None = None) -> Recipe:
    """What the preset trains with for `images` images of an export at `export_resolution`."""
    chosen = PRESETS[preset]
    return Recipe(
        preset=preset,
        images=images,
        steps=chosen.fixed_steps or steps_for(images),
        learning_rate=chosen.learning_rate,
        rank=chosen.rank,
        resolution=resolution_for(chosen.resolution, export_resolution),
        batch_size=smart_defaults(images).batch_size,
        create_masks=chosen.create_masks,
        is_style=chosen.is_style,
    )


@dataclass(frozen=True)
class Sample:
    shot: str
    prompt: str
    seed: int


def _q(value: str) -> str:
    """A double-quoted string valid in both YAML and TOML."""
    return json.dumps(value, ensure_ascii=False)


def _decimal(value: Decimal) -> str:
    """A learning rate both YAML and TOML read as a float: plain digits with a point, since
    YAML 1.1 (PyYAML) reads "1e-05" as a string."""
    text = format(Decimal(value).normalize(), "f")
    return text if "." in text else text + ".0"


def output_folder(name: str, trainer: str) -> str:
    """Where a trainer writes, relative to the unzipped export: beside it, never inside."""
    return f"../{name}-{trainer}"


def ai_toolkit_yaml(*, name: str, trigger: str, recipe: Recipe, samples: list[Sample]) -> str:
    save_every = max(100, recipe.steps // 4)
    sample_lines = "\n".join(
        f"          - prompt: {_q(s.prompt)}\n            seed: {s.seed}" for s in samples
    )
    out = output_folder(name, "ai-toolkit")
    lr = _decimal(recipe.learning_rate)
    return f"""# ai-toolkit (github.com/ostris/ai-toolkit): a FLUX.1-dev LoRA on this export.
# Run it from the unzipped export folder (its paths are relative to that folder), with
# ai-toolkit checked out and installed wherever you keep it:
#   {AI_TOOLKIT_RUN}
# Samples and weights go to {out}/ beside the export, never inside it
# (ai-toolkit walks the dataset folder recursively and would train on them).
# Recipe "{recipe.preset}" for {recipe.images} images, the one the app trains with:
# rank {recipe.rank}, alpha = rank (Replicate's rule), lr {lr}, {recipe.steps} steps,
# EMA {recipe.ema_decay}. Samples: the app's reference shots with their fixed seeds.
job: extension
config:
  name: {_q(name)}
  process:
    - type: sd_trainer
      training_folder: {_q(output_folder(name, "ai-toolkit"))}
      device: cuda:0
      trigger_word: {_q(trigger)}
      network:
        type: lora
        linear: {recipe.rank}
        linear_alpha: {recipe.alpha}
      save:
        dtype: float16
        save_every: {save_every}
        max_step_saves_to_keep: 4
      datasets:
        - folder_path: "."
          caption_ext: txt
          caption_dropout_rate: {recipe.caption_dropout}
          shuffle_tokens: false
          cache_latents_to_disk: true
          resolution: [{", ".join(str(r) for r in recipe.resolutions)}]
      train:
        batch_size: {recipe.batch_size}
        steps: {recipe.steps}
        gradient_accumulation_steps: 1
        train_unet: true
        train_text_encoder: false
        gradient_checkpointing: true
        noise_scheduler: flowmatch
        optimizer: adamw8bit
        lr: {_decimal(recipe.learning_rate)}
        ema_config:
          use_ema: true
          ema_decay: {recipe.ema_decay}
        dtype: bf16
      model:
        name_or_path: {_q(FLUX_MODEL)}
        is_flux: true
        quantize: true
      sample:
        sampler: flowmatch
        sample_every: {save_every}
        width: {SAMPLE_WIDTH}
        height: {SAMPLE_HEIGHT}
        samples:
{sample_lines}
        neg: ""
        walk_seed: false
        guidance_scale: {SAMPLE_GUIDANCE}
        sample_steps: {SAMPLE_STEPS}
meta:
  name: {_q(name)}
  version: "1.0"
"""


def kohya_config_toml(*, name: str, recipe: Recipe) -> str:
    save_every = max(100, recipe.steps // 4)
    out, lr = output_folder(name, "kohya"), _decimal(recipe.learning_rate)
    return f"""# kohya_ss sd-scripts (github.com/kohya-ss/sd-scripts), a FLUX.1-dev LoRA.
# Run it from the unzipped export folder (its paths are relative to that folder), with
# sd-scripts checked out and installed wherever you keep it:
#   {KOHYA_RUN}
# Set the four model paths below to your local FLUX.1-dev files (absolute paths are safest).
# Weights and samples go to {out}/ beside the export, never inside it.
# Recipe "{recipe.preset}" for {recipe.images} images, as the app trains: rank {recipe.rank},
# alpha = rank (Replicate's rule), lr {lr}, {recipe.steps} steps. No EMA: this script has none.
pretrained_model_name_or_path = "flux1-dev.safetensors"
clip_l = "clip_l.safetensors"
t5xxl = "t5xxl_fp16.safetensors"
ae = "ae.safetensors"
dataset_config = "train/kohya_dataset.toml"
output_dir = {_q(output_folder(name, "kohya"))}
output_name = {_q(name)}
save_model_as = "safetensors"
network_module = "networks.lora_flux"
network_dim = {recipe.rank}
network_alpha = {recipe.alpha}
network_train_unet_only = true
learning_rate = {_decimal(recipe.learning_rate)}
optimizer_type = "AdamW8bit"
lr_scheduler = "constant"
max_train_steps = {recipe.steps}
save_every_n_steps = {save_every}
mixed_precision = "bf16"
save_precision = "bf16"
fp8_base = true
gradient_checkpointing = true
sdpa = true
cache_latents_to_disk = true
cache_text_encoder_outputs = true
cache_text_encoder_outputs_to_disk = true
timestep_sampling = "shift"
discrete_flow_shift = 3.1582
model_prediction_type = "raw"
guidance_scale = 1.0
seed = 42
sample_prompts = "train/kohya_prompts.json"
sample_every_n_steps = {save_every}
sample_sampler = "euler"
"""


def kohya_bucket_range(resolution: int, steps: int = 64) -> tuple[int, int]:
    """min/max bucket sizes that hold `resolution` once sd-scripts rounds them to its
    bucket steps (min down, max up: library/train_util.py:747-773)."""
    low = min(256, resolution)
    high = max(resolution, 256)
    return low - low % steps or steps, high + (-high % steps)


MAX_SHOT_REPEATS = 4


def shot_repeats(files_by_shot: dict[str, list[str]]) -> dict[str, int]:
    """Repeats per shot type that bring each towards the largest (at most 4x), or {} when
    the shots are already even enough that repeating helps nothing."""
    counts = {shot: len(files) for shot, files in files_by_shot.items() if files}
    if len(counts) < 2:
        return {}
    top = max(counts.values())
    # Whole multiples only: a shot type repeats once it has half the images of the largest.
    repeats = {shot: min(MAX_SHOT_REPEATS, top // count) for shot, count in counts.items()}
    return repeats if any(r > 1 for r in repeats.values()) else {}


def kohya_shot_file(shot: str) -> str:
    return f"train/kohya_shots_{shot}.json"


def kohya_shot_metadata(files: list[str], captions: dict[str, str]) -> str:
    """sd-scripts' fine-tuning metadata for one shot type's images: image (relative to
    image_dir) -> its caption, the same text as its .txt (library/train_util.py:2259-2284)."""
    return json.dumps({f: {"caption": captions[f]} for f in files}, indent=2, ensure_ascii=False)


def kohya_dataset_toml(*, recipe: Recipe, files_by_shot: dict[str, list[str]] | None = None) -> str:
    """One [[datasets]] per size ai-toolkit trains (the same images at each), never
    upscaled (`bucket_no_upscale`). Where shot types are uneven (shots.json), one subset per
    shot type, listed in its own metadata file, repeats the rarer ones."""
    repeats = shot_repeats(files_by_shot or {})
    if repeats:
        subsets = "\n".join(
            f"""  [[datasets.subsets]]
  image_dir = "."
  metadata_file = {_q(kohya_shot_file(shot))}
  num_repeats = {count}
"""
            for shot, count in repeats.items()
        )
        how = "each shot type repeated towards the largest: " + ", ".join(
            f"{shot} x{count}" for shot, count in repeats.items()
        )
    else:
        subsets = """  [[datasets.subsets]]
  image_dir = "."
  num_repeats = 1
"""
        how = "every image once an epoch"
    blocks = []
    for size in recipe.resolutions:
        low, high = kohya_bucket_range(size)
        blocks.append(
            f"""[[datasets]]
resolution = {size}
batch_size = {recipe.batch_size}
enable_bucket = true
bucket_no_upscale = true
bucket_reso_steps = 64
min_bucket_reso = {low}
max_bucket_reso = {high}

{subsets}"""
        )
    return f"""# kohya_ss dataset config: the unzipped export's images with their .txt captions, at
# each size the recipe trains ({recipe.resolution}), never upscaled; {how}.
[general]
caption_extension = ".txt"
shuffle_caption = false
keep_tokens = 1
caption_dropout_rate = {recipe.caption_dropout}

""" + "\n".join(blocks)


def kohya_prompts_json(samples: list[Sample]) -> str:
    """sd-scripts' sample prompts as a JSON list (library/train_util.py:6339-6341), each with
    the keys its FLUX sampler reads (library/flux_train_utils.py:154-162)."""
    return json.dumps(
        [
            {
                "prompt": s.prompt,
                "width": SAMPLE_WIDTH,
                "height": SAMPLE_HEIGHT,
                "seed": s.seed,
                "sample_steps": SAMPLE_STEPS,
                "guidance_scale": SAMPLE_GUIDANCE,
            }
            for s in samples
        ],
        indent=2,
        ensure_ascii=False,
    )
