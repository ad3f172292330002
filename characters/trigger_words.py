"""Trigger-word rules (seed 002): unique, short, lowercase, and not a common word."""

import re
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError

TRIGGER_WORD_RE = re.compile(r"^[a-z][a-z0-9_]{2,23}$")
_WORDS_FILE = Path(__file__).with_name("common_words.txt")


@cache
def common_words() -> frozenset[str]:
    lines = _WORDS_FILE.read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def validate_trigger_word(value: str) -> None:
    if not TRIGGER_WORD_RE.match(value or ""):
        raise ValidationError(
            "Use 3–24 characters: lowercase letters, digits or underscores, starting with a "
            "letter (e.g. “fitmannequin”, “jdoe”).",
            code="format",
        )
    parts = [p for p in value.split("_") if p]
    if value in common_words() or (len(parts) == 1 and parts[0] in common_words()):
        raise ValidationError(
            f"“{value}” is a common word: the model already knows it, so it cannot stand for "
            "your character. Pick a made-up token such as initials plus a name.",
            code="common",
        )
