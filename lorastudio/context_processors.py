from django.conf import settings


def studio(request):
    """What every page shows in its shell: the default provider and whether it is simulated."""
    return {
        "default_provider": settings.PROVIDER,
        "provider_is_simulated": settings.PROVIDER == "local",
    }
