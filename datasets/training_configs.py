"""Ready configs for training on one's own GPU: ai-toolkit (YAML) and kohya_ss sd-scripts
(TOML) for FLUX.1-dev, with seed 002's smart defaults.

Seed 002: epochs by image count (<20: 20, 20–50: 15, 50–100: 10, 100+: 8), batch size
(<30: 1, 30–100: 2, 100+: 4), learning rate 1e-4, rank 32 with alpha 16. Each image is
seen 4 times an epoch (our addition) so the step count lands where FLUX LoRA guides put it
(roughly 800–1,500 steps for 10–60 images).
"""

import json
import math
from dataclasses import dataclass

FLUX_MODEL = "black-forest-labs/FLUX.1-dev"
REPEATS = 4


@dataclass(frozen=True)
class Defaults:
    images: int
    epochs: int
    batch_size: int
    repeats: int
    steps: int
    learning_rate: float = 1e-4
    rank: int = 32
    alpha: int = 16


def smart_defaults(images: int) -> Defaults:
    epochs = 20 if images < 20 else 15 if images <= 50 else 10 if images <= 100 else 8
    batch = 1 if images < 30 else 2 if images <= 100 else 4
    steps = max(1, math.ceil(images * REPEATS * epochs / batch))
    return Defaults(images=images, epochs=epochs, batch_size=batch, repeats=REPEATS, steps=steps)


def _q(value: str) -> str:
    """A double-quoted string valid in both YAML and TOML."""
    return json.dumps(value, ensure_ascii=False)


def _buckets(resolution: int) -> list[int]:
    return [r for r in (512, 768, 1024, 1280, 1536) if r < resolution] + [resolution]


def ai_toolkit_yaml(*, name: str, trigger: str, images: int, resolution: int, sample: str) -> str:
    d = smart_defaults(images)
    save_every = max(100, d.steps // 4)
    return f"""# ai-toolkit (github.com/ostris/ai-toolkit) config for this export: FLUX.1-dev LoRA.
# Unzip the export, run from that folder: python run.py train/ai-toolkit.yaml
# Defaults from the dataset ({images} images): {d.epochs} epochs x {d.repeats} repeats,
# batch {d.batch_size} -> {d.steps} steps.
job: extension
config:
  name: {_q(name)}
  process:
    - type: sd_trainer
      training_folder: output
      device: cuda:0
      trigger_word: {_q(trigger)}
      network:
        type: lora
        linear: {d.rank}
        linear_alpha: {d.alpha}
      save:
        dtype: float16
        save_every: {save_every}
        max_step_saves_to_keep: 4
      datasets:
        - folder_path: "."
          caption_ext: txt
          caption_dropout_rate: 0.05
          shuffle_tokens: false
          cache_latents_to_disk: true
          resolution: [{", ".join(str(b) for b in _buckets(resolution))}]
      train:
        batch_size: {d.batch_size}
        steps: {d.steps}
        gradient_accumulation_steps: 1
        train_unet: true
        train_text_encoder: false
        gradient_checkpointing: true
        noise_scheduler: flowmatch
        optimizer: adamw8bit
        lr: {d.learning_rate}
        dtype: bf16
      model:
        name_or_path: {_q(FLUX_MODEL)}
        is_flux: true
        quantize: true
      sample:
        sampler: flowmatch
        sample_every: {save_every}
        width: 1024
        height: 1024
        prompts:
          - {_q(sample)}
        seed: 42
        guidance_scale: 4
        sample_steps: 20
meta:
  name: {_q(name)}
  version: "1.0"
"""


def kohya_config_toml(*, name: str, images: int) -> str:
    d = smart_defaults(images)
    return f"""# kohya_ss sd-scripts (FLUX branch) training config for this export.
# accelerate launch flux_train_network.py --config_file train/kohya_config.toml
# Set the four model paths below to your local FLUX.1-dev files.
pretrained_model_name_or_path = "flux1-dev.safetensors"
clip_l = "clip_l.safetensors"
t5xxl = "t5xxl_fp16.safetensors"
ae = "ae.safetensors"
dataset_config = "train/kohya_dataset.toml"
output_dir = "output"
output_name = {_q(name)}
save_model_as = "safetensors"
network_module = "networks.lora_flux"
network_dim = {d.rank}
network_alpha = {d.alpha}
network_train_unet_only = true
learning_rate = {d.learning_rate}
optimizer_type = "AdamW8bit"
lr_scheduler = "constant"
max_train_epochs = {d.epochs}
save_every_n_epochs = {max(1, d.epochs // 4)}
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
"""


def kohya_dataset_toml(*, images: int, resolution: int) -> str:
    d = smart_defaults(images)
    return f"""# kohya_ss dataset config: the unzipped export's images with their .txt captions.
[general]
caption_extension = ".txt"
shuffle_caption = false
keep_tokens = 1

[[datasets]]
resolution = {resolution}
batch_size = {d.batch_size}
enable_bucket = true
min_bucket_reso = 256
max_bucket_reso = {max(resolution, 1024)}

  [[datasets.subsets]]
  image_dir = "."
  num_repeats = {d.repeats}
"""
