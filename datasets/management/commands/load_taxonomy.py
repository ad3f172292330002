from django.core.management.base import BaseCommand

from datasets.concepts import load_default_taxonomy


class Command(BaseCommand):
    help = "Copy datasets/taxonomy.json into the database (edits made in the admin are kept)."

    def handle(self, *args, **options):
        categories, concepts = load_default_taxonomy()
        self.stdout.write(f"Taxonomy: {categories} categories and {concepts} concepts added.")
