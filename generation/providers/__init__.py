"""Provider adapters behind one interface (base.Provider); `get_provider` picks one by name."""

from functools import cache

from .base import Provider


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
