from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"

    def ready(self):
        from . import embeddings, outputs

        outputs.register()
        embeddings.register()
