"""Provider adapters behind one interface (base.Provider); `get_provider` picks one by name.

`provider_problem()` is the one check of a provider name: known, and set up here (its key; to
train on Replicate, the owner of the trained model). The run forms show it through
`available()`; every plan (runs, retries, captions, gaps, likeness runs, trainings) calls
`require_provider()`, which refuses before anything is saved.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings

from lorastudio.errors import Refusal

from ..models import Provider as ProviderName
from .base import Provider

# The setting each paid provider cannot work without.
KEY_SETTINGS = {ProviderName.FAL: "FAL_KEY", ProviderName.REPLICATE: "REPLICATE_API_TOKEN"}


@dataclass(frozen=True)
class ProviderOption:
    key: str
    label: str
    reason: str  # why it cannot be used now; empty when it can
    missing: str = ""  # the setting it needs, when that is why

    @property
    def usable(self) -> bool:
        return not self.reason


class ProviderUnavailable(Refusal):
    """The provider named is unknown here, or not set up to do what was asked."""


def unavailable_reason(name: str) -> str:
    """Why provider `name` cannot be used now (naming the missing setting), or ""."""
    setting = KEY_SETTINGS.get(name)
    if setting and not getattr(settings, setting, ""):
        return f"{setting} is not set: add it to the environment (or .env.local) to use it."
    return ""


def provider_problem(name: str, *, training: bool = False) -> str:
    """Why provider `name` cannot be used here (to train a LoRA, when `training`), or ""."""
    if name not in ProviderName.values:
        return f"Unknown provider “{name}”: use one of {', '.join(ProviderName.values)}."
    label = ProviderName(name).label
    if reason := unavailable_reason(name):
        return f"{label} {'cannot train here' if training else 'cannot be used'}: {reason}"
    if training and name == ProviderName.REPLICATE and not settings.REPLICATE_OWNER:
        return (
            "Replicate needs REPLICATE_OWNER (your user or organisation) to hold the trained "
            "model: set it in the environment."
        )
    return ""


def require_provider(name: str, *, training: bool = False) -> str:
    """`name` when it can be used (to train, when `training`); else a `ProviderUnavailable`
    saying why, before anything is saved or sent."""
    if problem := provider_problem(name, training=training):
        raise ProviderUnavailable(problem)
    return name


def available() -> list[ProviderOption]:
    """Every provider with the reason it cannot be used now (empty when it can)."""
    return [
        ProviderOption(
            key=value,
            label=label,
            reason=unavailable_reason(value),
            missing=KEY_SETTINGS.get(value, "") if unavailable_reason(value) else "",
        )
        for value, label in ProviderName.choices
    ]


@cache
def get_provider(name: str) -> Provider:
    if name == "local":
        from .local import LocalProvider

        return LocalProvider()
    if name == "fal":
        from .fal import FalProvider

        return FalProvider()
    if name == "replicate":
        from .replicate import ReplicateProvider

        return ReplicateProvider()
    raise LookupError(f"Unknown provider {name!r}.")
