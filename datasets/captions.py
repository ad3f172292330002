"""Captions: the template that writes them, captions from prompts, and the trigger-word check.

An item's caption says what its picture shows. The dataset's template turns it into the
text a trainer reads, e.g. "{trigger}, {shot}, {caption}". The trigger word must appear
exactly once in that text: the LoRA learns the character under that one token.
"""

import re
from dataclasses import dataclass

from lorastudio.errors import Refusal

PLACEHOLDERS = ("trigger", "caption", "pose", "shot")
SHOT_WORDS = {"close": "close-up", "mid": "medium shot", "far": "full body shot", "unknown": ""}
# Captioners open with filler that teaches a LoRA nothing.
CAPTIONER_FILLER = re.compile(
    r"^\s*(?:the|this|in this) (?:image|picture|photo(?:graph)?) (?:shows|depicts|features|is of)"
    r"\s*[:,]?\s*",
    re.I,
)


class CaptionRefused(Refusal):
    """A caption template or edit that cannot be used; the message says why."""


# A template is plain text with these four placeholders, filled in by plain replacement: it is
# never a format string (a format spec such as "{caption:>9999999}" would build any size of
# text, "{caption:d}" would fail at every render).
PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
TEMPLATE_MAX_LENGTH = 300


def check_template(template: str) -> str:
    """The template, if its only braces are the known placeholders and it mentions {caption}."""
    template = (template or "").strip()
    if len(template) > TEMPLATE_MAX_LENGTH:
        raise CaptionRefused(f"The caption template has at most {TEMPLATE_MAX_LENGTH} characters.")
    fields = PLACEHOLDER.findall(template)
    rest = PLACEHOLDER.sub("", template)
    use = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    unknown = sorted(set(re.findall(r"\{\w+\}", rest)))
    if unknown:
        raise CaptionRefused(f"Unknown placeholder {', '.join(unknown)}: use {use}.")
    if "{" in rest or "}" in rest:
        strays = sorted(set(re.findall(r"\{[^{}]*\}", rest)))
        named = f" ({', '.join(strays)})" if strays else ""
        raise CaptionRefused(
            f"The caption template is not valid{named}: use only {use}, written exactly so, "
            "and no other braces."
        )
    if "caption" not in fields:
        raise CaptionRefused("The caption template needs {caption}, the picture's description.")
    return template


def render(template: str, *, trigger: str, caption: str, pose: str = "", shot: str = "") -> str:
    """The caption text a trainer reads; empty parts leave no stray commas."""
    values = {
        "trigger": trigger,
        "caption": caption.strip(),
        "pose": pose,
        "shot": SHOT_WORDS.get(shot, shot),
    }
    text = PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(\s*,\s*)+", ", ", text)  # ", ," left by an empty part
    return text.strip(" ,")


# Control characters (C0, DEL, C1) and the bidirectional overrides that make text read
# differently from what it holds: each becomes a space, then runs of spaces one.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """A caption as one line of plain text: whitespace collapsed, control characters gone."""
    return " ".join(CONTROL.sub(" ", text).split())


def trigger_count(text: str, trigger: str, *, ignore_case: bool = False) -> int:
    """How often the trigger stands as a word in `text`. Case counts, as the trainers count
    it: ai-toolkit (and Replicate's trainer built on it) looks for the exact string and
    prepends it when absent (ostris/ai-toolkit@27a03a9 toolkit/prompt_utils.py:736-742), so
    "Ava" does not stand for "ava"."""
    flags = re.I if ignore_case else 0
    return len(re.findall(rf"(?<![\w]){re.escape(trigger)}(?![\w])", text, flags))


def trigger_problem(text: str, trigger: str) -> str:
    """Why a rendered caption breaks the trigger rule, or "" when it appears exactly once."""
    count = trigger_count(text, trigger)
    other_case = trigger_count(text, trigger, ignore_case=True) - count
    if count == 1 and not other_case:
        return ""
    if other_case:
        return (
            f"the trigger word “{trigger}” is written in another case; trainers match it "
            "exactly, so write it as the character's trigger word"
        )
    if count == 0:
        return f"the trigger word “{trigger}” is missing"
    return f"the trigger word “{trigger}” appears {count} times"


def _phrases(prompt: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,\n]", prompt or "") if p.strip()]


def shared_boilerplate(prompts: list[str], *, base_prompt: str, min_prompts: int = 3) -> set[str]:
    """Phrases no caption should repeat: the base prompt's, and (given enough prompts) those
    every prompt shares, since what never varies teaches the LoRA nothing but noise."""
    boilerplate = {p.lower() for p in _phrases(base_prompt)}
    phrase_sets = [{p.lower() for p in _phrases(prompt)} for prompt in prompts if prompt]
    if len(phrase_sets) >= min_prompts:
        boilerplate |= set.intersection(*phrase_sets)
    return boilerplate


def caption_from_prompt(prompt: str, *, boilerplate: set[str], trigger: str) -> str:
    """A generated image's caption: its prompt without the boilerplate and the trigger."""
    kept = []
    for phrase in _phrases(prompt):
        if phrase.lower() in boilerplate:
            continue
        phrase = re.sub(rf"(?<![\w]){re.escape(trigger)}(?![\w])", "", phrase, flags=re.I).strip()
        if phrase and phrase.lower() not in {k.lower() for k in kept}:
            kept.append(phrase)
    return ", ".join(kept)


def clean_captioner_text(text: str) -> str:
    """A captioner's answer as a caption: one line, without "The image shows"."""
    text = re.sub(r"\s+", " ", text or "").strip()
    text = CAPTIONER_FILLER.sub("", text)
    text = text.rstrip(".").strip()
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


@dataclass(frozen=True)
class Replacement:
    item_id: int
    before: str
    after: str
    occurrences: int


def replace_in(text: str, find: str, replace: str, *, match_case: bool) -> tuple[str, int]:
    pattern = re.compile(re.escape(find), 0 if match_case else re.I)
    return pattern.subn(lambda _: replace, text)
