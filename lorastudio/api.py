"""The JSON API at /api/: Django Ninja, bearer tokens or the browser session (with CSRF)."""

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from ninja import NinjaAPI
from ninja.security import HttpBearer, SessionAuth

from characters.api import router as characters_router
from datasets.api import router as datasets_router
from generation.api import router as generation_router
from training.api import router as training_router

from .errors import Refusal
from .tokens import user_for_api_key


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_api_key(token)
        if user is not None:
            request.user = user
        return user


class _LoginRequiredExempt(NinjaAPI):
    """Ninja authenticates its operations itself: exempt them from LoginRequiredMiddleware."""

    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            if getattr(pattern, "name", None) not in ("openapi-json", "openapi-view"):
                pattern.callback.login_required = False
        return patterns


api = _LoginRequiredExempt(
    title="LoRA Studio API",
    version="1",
    description="Every screen's action as an API call. Authenticate with "
    "`Authorization: Bearer <token>` (manage.py create_api_token USERNAME) or the browser session.",
    auth=[BearerToken(), SessionAuth()],
)


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(Refusal)
def refused(request, exc):
    """Every domain refusal: its own status code, its message as `detail`."""
    return api.create_response(
        request, {"detail": exc.message, **exc.extra}, status=exc.status_code
    )


@api.exception_handler(ObjectDoesNotExist)
def not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)


api.add_router("/", characters_router)
api.add_router("/", generation_router)
api.add_router("/", datasets_router)
api.add_router("/", training_router)
