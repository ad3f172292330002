"""Concepts from captions, with a taxonomy (seed 002): clothing, pose, setting, lighting...

The default taxonomy is data (`taxonomy.json`). `load_taxonomy` copies it into the
database, where the admin edits it; until then the file itself is used. There is no team
model, so the taxonomy is one per installation.
"""

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from django.db import transaction

from .models import Concept, ConceptCategory

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.json")


@dataclass(frozen=True)
class Term:
    category: str
    name: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[tuple[str, str], ...]  # (key, label) in order
    terms: tuple[Term, ...]

    @cached_property
    def _patterns(self) -> list[tuple[Term, re.Pattern]]:
        compiled = []
        for term in self.terms:
            words = sorted({p.strip().lower() for p in term.phrases if p.strip()}, key=len)
            alternatives = "|".join(
                r"[\s_-]+".join(re.escape(w) for w in re.split(r"[\s_]+", phrase))
                for phrase in words
            )
            compiled.append((term, re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.I)))
        return compiled

    def category_of(self, name: str) -> str:
        return next((t.category for t in self.terms if t.name == name), "")

    def extract(self, text: str) -> list[str]:
        """The concepts a caption mentions, in taxonomy order, each once."""
        if not text:
            return []
        return [term.name for term, pattern in self._patterns if pattern.search(text)]

    def grouped(self, concepts: list[str]) -> dict[str, list[str]]:
        """Concepts by category key (every category present, maybe empty)."""
        groups: dict[str, list[str]] = {key: [] for key, _ in self.categories}
        for name in concepts:
            category = self.category_of(name)
            if category:
                groups[category].append(name)
        return groups


def _from_file(path: Path = DEFAULT_TAXONOMY) -> Taxonomy:
    data = json.loads(path.read_text())
    categories, terms = [], []
    for category in data["categories"]:
        categories.append((category["key"], category["label"]))
        for name, phrases in category["concepts"].items():
            terms.append(Term(category["key"], name, (name.replace("_", " "), *phrases)))
    return Taxonomy(tuple(categories), tuple(terms))


def current_taxonomy() -> Taxonomy:
    """The installation's taxonomy: the database's if it was loaded, else the default file."""
    rows = list(Concept.objects.select_related("category"))
    if not rows:
        return _from_file()
    categories = tuple(ConceptCategory.objects.values_list("key", "label"))
    terms = tuple(
        Term(
            c.category.key,
            c.name,
            (c.name.replace("_", " "), *(s for s in c.synonyms.split(",") if s.strip())),
        )
        for c in rows
    )
    return Taxonomy(categories, terms)


@transaction.atomic
def load_default_taxonomy(*, path: Path = DEFAULT_TAXONOMY) -> tuple[int, int]:
    """Copy the default taxonomy into the database; edits made in the admin are kept.

    Returns (categories created, concepts created).
    """
    data = json.loads(path.read_text())
    new_categories = new_concepts = 0
    for order, category in enumerate(data["categories"]):
        row, created = ConceptCategory.objects.get_or_create(
            key=category["key"], defaults={"label": category["label"], "order": order}
        )
        new_categories += created
        for position, (name, phrases) in enumerate(category["concepts"].items()):
            _, created = Concept.objects.get_or_create(
                category=row,
                name=name,
                defaults={"synonyms": ", ".join(phrases), "order": position},
            )
            new_concepts += created
    return new_categories, new_concepts
