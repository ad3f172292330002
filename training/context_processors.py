from .notifications import unread_for


def notifications(request):
    """How many notifications the user has not seen, for the nav."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_for(user).count()}
