"""Provider adapters behind one interface (base.Provider); `get_provider` picks one by name.

`available()` says which providers can be used now, and why not: the run forms show it and
`plan_run` refuses a run on a provider without its key before anything is saved.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings

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


def unavailable_reason(name: str) -> str:
    """Why provider `name` cannot be used now (naming the missing setting), or ""."""
    setting = KEY_SETTINGS.get(name)
    if setting and not getattr(settings, setting, ""):
        return f"{setting} is not set: add it to the environment (or .env.local) to use it."
    return ""


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
