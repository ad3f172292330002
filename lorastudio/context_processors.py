from .health import WORKER_MISSING_AFTER, worker_last_seen
from .roles import role_of


def studio(request):
    """What every page shows in its shell: the user's role, and whether the background
    worker (and beat) has gone quiet. (The provider badge: generation.context_processors.)"""
    user = getattr(request, "user", None)
    seen = worker_last_seen()
    return {
        "user_role": role_of(user) if user is not None and user.is_authenticated else None,
        "worker_missing": seen is None or seen > WORKER_MISSING_AFTER,
        "worker_seen_ago": None if seen is None else int(seen),
    }
