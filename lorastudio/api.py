"""The JSON API at /api/: Django Ninja, bearer tokens or the browser session (with CSRF)."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.security import HttpBearer, SessionAuth

from characters.api import router as characters_router
from datasets.api import router as datasets_router
from datasets.upload_api import router as uploads_router
from generation.api import router as generation_router
from training.api import router as training_router

from . import access, roles
from .errors import Invalid, Refusal
from .throttling import check_token_attempts, token_refused
from .tokens import user_for_api_key


def _permitted(request, user):
    """The operation's permission, from the one map the pages use too (lorastudio.access)."""
    match = request.resolver_match
    access.check(user, match.route if match else "", request.method)
    return user


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        check_token_attempts(request)
        user = user_for_api_key(token)
        if user is None:
            token_refused(request)
            return None
        request.user = user
        return _permitted(request, user)


class Session(SessionAuth):
    """The browser session (with CSRF), held to the same permissions as a token."""

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        return _permitted(request, user) if user else None


def session_or_bearer(view):
    """The schema and the docs page, for the browser session or a bearer token.

    A browser without a session is sent to the login page; anything else gets a 401.
    """

    @wraps(view, assigned=("__doc__",))
    def checked(request, *args, **kwargs):
        if not request.user.is_authenticated and BearerToken()(request) is None:
            if "Authorization" not in request.headers and not request.path.endswith(".json"):
                return redirect_to_login(request.get_full_path())
            return JsonResponse({"detail": "Unauthorized"}, status=401)
        return view(request, *args, **kwargs)

    return checked


class _LoginRequiredExempt(NinjaAPI):
    """Ninja authenticates its operations (and the docs) itself: exempt them from
    LoginRequiredMiddleware, which knows only the session."""

    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            pattern.callback.login_required = False
        return patterns


api = _LoginRequiredExempt(
    title="LoRA Studio API",
    version="1",
    description="Every screen's action as an API call. Authenticate with "
    "`Authorization: Bearer <token>` (manage.py create_api_token USERNAME) or the browser session.",
    auth=[BearerToken(), Session()],
    docs_decorator=session_or_bearer,
)


@api.exception_handler(Refusal)
def refused(request, exc):
    """Every domain refusal: its own status code, its message as `detail`."""
    response = api.create_response(
        request, {"detail": exc.message, **exc.extra}, status=exc.status_code
    )
    if "retry_after" in exc.extra:  # a quota: when to ask again
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    """Services refuse with a `Refusal`; a model's own `ValidationError` that gets here anyway
    (a lookup by a malformed id) is answered the same way, not as a 500."""
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return refused(request, Invalid(" ".join(exc.messages), fields=fields))


# A body Django's parser refuses is answered here, in JSON, not by Django's HTML 400 page.
@api.exception_handler(TooManyFilesSent)
def too_many_files(request, exc):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
    detail = f"Upload at most {limit} files at a time: send the rest in another request."
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(TooManyFieldsSent)
def too_many_fields(request, exc):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    detail = f"The form has more than {limit} fields."
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    detail = "The request's form fields are too large: send files as files."
    return api.create_response(request, {"detail": detail}, status=413)


@api.exception_handler(MultiPartParserError)
def bad_multipart(request, exc):
    detail = f"The multipart body cannot be read ({exc}): send it with a boundary, as a form."
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(ObjectDoesNotExist)
def not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)


class MeOut(Schema):
    username: str
    email: str
    role: str | None
    permissions: list[str]


@api.get("/me", response=MeOut, tags=["me"])
def me(request):
    """Who the token (or session) is, its role and the permissions it holds."""
    user = request.user
    return {
        "username": user.get_username(),
        "email": user.email,
        "role": roles.role_of(user),
        "permissions": sorted(p for p in user.get_all_permissions() if p.startswith("lorastudio.")),
    }


api.add_router("/", characters_router)
api.add_router("/", generation_router)
api.add_router("/", uploads_router)
api.add_router("/", datasets_router)
api.add_router("/", training_router)
