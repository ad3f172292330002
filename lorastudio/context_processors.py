from django.conf import settings

from .roles import role_of


def studio(request):
    """What every page shows in its shell: the default provider and whether it is simulated."""
    user = getattr(request, "user", None)
    return {
        "default_provider": settings.PROVIDER,
        "provider_is_simulated": settings.PROVIDER == "local",
        "user_role": role_of(user) if user is not None and user.is_authenticated else None,
    }
