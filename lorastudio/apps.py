from django.apps import AppConfig


class LoraStudioConfig(AppConfig):
    name = "lorastudio"
    verbose_name = "LoRA Studio"
