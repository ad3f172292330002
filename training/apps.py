from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self):
        from generation.calls import (
            register_output_handler,
            register_sample_handler,
            register_task_builder,
        )
        from generation.inputs import build_task
        from lorastudio.queueing import register_sweeper

        from . import loras, outgoing, pins, samples, services

        # A training is a ProviderCall of its own purpose: same inputs-to-task path as
        # pictures, its own result handler.
        register_task_builder(services.PURPOSE, build_task)
        register_output_handler(services.PURPOSE, loras.save_trained_lora)
        register_sample_handler(services.PURPOSE, samples.keep_samples)
        # Likeness: once pinned, the pin's primary and references are the identity.
        from characters.likeness.references import register_pin_source

        register_pin_source(pins.pin_identity)
        register_sweeper("webhook deliveries", outgoing.requeue_lost_deliveries)
        register_sweeper("pin packs", pins.requeue_lost_packs)
