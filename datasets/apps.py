from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"

    def ready(self):
        from lorastudio.queueing import register_sweeper

        from . import captioning, exports, ingest

        captioning.register()
        register_sweeper("uploads", ingest.requeue_lost_uploads)
        register_sweeper("exports", exports.requeue_lost_exports)
