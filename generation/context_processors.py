from django.conf import settings

from . import providers
from .models import Provider
from .selectors import preferred_provider


def provider_badge(request):
    """The default provider, and whether new runs start on the simulator: then the header's
    badge says so, and its title that runs on fal or Replicate are paid (the simulator
    being the default never means nothing is paid: anyone may pick a paid provider)."""
    simulated = preferred_provider(None) == Provider.LOCAL
    return {
        "default_provider": settings.PROVIDER,
        "provider_is_simulated": simulated,
        "simulator_badge_title": _badge_title() if simulated else "",
    }


def _badge_title() -> str:
    paid = [option for option in providers.available() if option.key != Provider.LOCAL]
    names = " or ".join(option.label for option in paid)
    ready = [option.label for option in paid if option.usable]
    if ready:
        where = f"{' and '.join(ready)} {'is' if len(ready) == 1 else 'are'} set up here"
    else:
        where = "neither is set up here"
    title = (
        "New runs start on the offline simulator (free) unless you pick another provider. "
        f"Runs on {names} are paid: {where}."
    )
    if settings.PROVIDER != Provider.LOCAL:  # the default chosen is not usable here
        title = f"{providers.provider_problem(settings.PROVIDER)} {title}"
    return title
