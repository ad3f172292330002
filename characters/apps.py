from django.apps import AppConfig


class CharactersConfig(AppConfig):
    name = "characters"

    def ready(self):
        from django.db.models.signals import post_delete

        from lorastudio.media import delete_files_when_deleted
        from lorastudio.queueing import register_sweeper

        from .likeness import sweep
        from .models import Image

        # An image's file and thumbnail are its own (exports and packs hold copies).
        post_delete.connect(delete_files_when_deleted, sender=Image, dispatch_uid="image-files")
        register_sweeper("likeness measures", sweep.requeue_lost_measures)
        register_sweeper("likeness scores", sweep.requeue_stale_scores)
