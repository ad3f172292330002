"""What each endpoint asks of its user: one map, checked in one place for pages and the API.

Keys are routes as the URL resolver spells them (`request.resolver_match.route`), the API's
operations included. Each maps to (permission to read, permission to change): GET and HEAD
ask for the first, every other method for the second. The page middleware below and the
API's authentication (lorastudio.api) both call `required_permission` and `check`, so a role
is refused the same action in a page, with an htmx request and with a bearer token.

A route missing from the map can be read by anyone who may browse and changed only by an
admin; tests/lorastudio/test_roles_walk.py fails for every route missing here, so a new
endpoint gets its line when it is added.
"""

from django.contrib.auth.models import Permission
from django.shortcuts import render

from .errors import Refusal
from .refusals import refused
from .roles import (
    ADMINISTER,
    BROWSE,
    CURATE,
    EDIT_CHARACTERS,
    EDIT_DATASETS,
    EXPORT_DATASETS,
    LAUNCH_RUNS,
    MANAGE_BUDGETS,
    MANAGE_WEBHOOKS,
    PIN,
    REVIEW_LORAS,
    TRAIN,
    VIEW_USAGE,
)

READS = ("GET", "HEAD", "OPTIONS")

# Open to everyone (login, webhooks with signatures, signed media) or to every login (the
# API's docs): no permission is asked.
OPEN = {
    "login/",
    "logout/",
    "healthz",
    "media/<path:path>",
    "webhooks/fal",
    "webhooks/replicate",
    "api/",
    "api/docs",
    "api/openapi.json",
}

RULES: dict[str, tuple[str, str]] = {
    "": (BROWSE, BROWSE),
    # a login's own API tokens: every role reads the API, so every role makes its tokens
    "account/api-tokens/": (BROWSE, BROWSE),
    "account/api-tokens/<int:token_id>/revoke/": (BROWSE, BROWSE),
    # characters
    "characters/": (BROWSE, BROWSE),
    "characters/new/": (EDIT_CHARACTERS, EDIT_CHARACTERS),
    "characters/<slug:slug>/": (BROWSE, BROWSE),
    "characters/<slug:slug>/edit/": (EDIT_CHARACTERS, EDIT_CHARACTERS),
    "characters/<slug:slug>/variations/new/": (EDIT_CHARACTERS, EDIT_CHARACTERS),
    "characters/<slug:slug>/variations/<slug:key>/": (EDIT_CHARACTERS, EDIT_CHARACTERS),
    "characters/<slug:slug>/anchors/": (BROWSE, BROWSE),
    "characters/<slug:slug>/anchors/<slug:pose>/": (BROWSE, EDIT_CHARACTERS),
    "characters/<slug:slug>/gallery/": (BROWSE, BROWSE),
    "characters/<slug:slug>/gallery/counts/": (BROWSE, BROWSE),
    "characters/<slug:slug>/images/<int:image_id>/review/": (BROWSE, CURATE),
    "characters/<slug:slug>/images/bulk-review/": (BROWSE, CURATE),
    "characters/<slug:slug>/suggest-anchor/": (EDIT_CHARACTERS, EDIT_CHARACTERS),
    # runs
    "runs/": (BROWSE, BROWSE),
    "runs/<int:run_id>/": (BROWSE, BROWSE),
    "runs/<int:run_id>/cancel/": (BROWSE, LAUNCH_RUNS),
    "runs/<int:run_id>/retry/": (BROWSE, LAUNCH_RUNS),
    "runs/<int:run_id>/dismiss/": (BROWSE, BROWSE),
    "runs/<int:run_id>/approval/": (BROWSE, MANAGE_BUDGETS),
    "runs/calls/<uuid:call_id>/retry/": (BROWSE, LAUNCH_RUNS),
    "runs/new/<slug:slug>/": (LAUNCH_RUNS, LAUNCH_RUNS),
    "runs/progress/<slug:slug>/": (BROWSE, BROWSE),
    "runs/budget/": (VIEW_USAGE, MANAGE_BUDGETS),
    "runs/usage/": (VIEW_USAGE, VIEW_USAGE),
    # datasets
    "datasets/": (BROWSE, BROWSE),
    "datasets/for/<slug:slug>/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/": (BROWSE, BROWSE),
    "datasets/<int:dataset_id>/settings/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/add-approved/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/replace/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/captions/": (BROWSE, LAUNCH_RUNS),
    "datasets/<int:dataset_id>/fill-gap/": (BROWSE, LAUNCH_RUNS),
    "datasets/<int:dataset_id>/include/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/exclude/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/exclude-shots/": (BROWSE, EDIT_DATASETS),
    "datasets/<int:dataset_id>/exports/": (BROWSE, BROWSE),
    "datasets/<int:dataset_id>/exports/new/": (BROWSE, EXPORT_DATASETS),
    "datasets/items/<int:item_id>/": (BROWSE, BROWSE),
    "datasets/items/<int:item_id>/caption/": (BROWSE, EDIT_DATASETS),
    "datasets/items/<int:item_id>/include/": (BROWSE, EDIT_DATASETS),
    "datasets/items/<int:item_id>/shot/": (BROWSE, EDIT_DATASETS),
    "datasets/exports/<uuid:export_id>/download/": (BROWSE, BROWSE),
    # training
    "training/": (BROWSE, BROWSE),
    "training/new/": (TRAIN, TRAIN),
    "training/jobs/<int:job_id>/": (BROWSE, BROWSE),
    "training/jobs/<int:job_id>/cancel/": (BROWSE, TRAIN),
    "training/jobs/<int:job_id>/retry/": (BROWSE, TRAIN),
    "training/presets/": (BROWSE, TRAIN),
    "training/loras/<int:lora_id>/": (BROWSE, BROWSE),
    "training/loras/<int:lora_id>/reference-set/": (BROWSE, LAUNCH_RUNS),
    "training/loras/<int:lora_id>/approve/": (BROWSE, REVIEW_LORAS),
    "training/loras/<int:lora_id>/retire/": (BROWSE, REVIEW_LORAS),
    "training/characters/<slug:slug>/": (BROWSE, BROWSE),
    "training/characters/<slug:slug>/compare/": (BROWSE, BROWSE),
    "training/characters/<slug:slug>/pin/": (PIN, PIN),
    "training/characters/<slug:slug>/pin/drift/": (PIN, PIN),  # the pin form's live warning
    "training/characters/<slug:slug>/pins/<int:version>/": (BROWSE, BROWSE),
    "training/characters/<slug:slug>/pins/<int:version>/pack/": (BROWSE, BROWSE),
    "training/webhooks/": (MANAGE_WEBHOOKS, MANAGE_WEBHOOKS),
    "training/webhooks/<int:endpoint_id>/delete/": (MANAGE_WEBHOOKS, MANAGE_WEBHOOKS),
    "training/webhooks/deliveries/<uuid:delivery_id>/redeliver/": (
        MANAGE_WEBHOOKS,
        MANAGE_WEBHOOKS,
    ),
    "training/notifications/": (BROWSE, BROWSE),
    # the API
    "api/me": (None, None),
    "api/presets": (BROWSE, BROWSE),
    "api/characters": (BROWSE, EDIT_CHARACTERS),
    "api/characters/<slug>": (BROWSE, EDIT_CHARACTERS),
    "api/characters/<slug>/sheet": (BROWSE, BROWSE),
    "api/characters/<slug>/variations": (BROWSE, EDIT_CHARACTERS),
    "api/characters/<slug>/anchors/<pose>": (BROWSE, EDIT_CHARACTERS),
    "api/characters/<slug>/images": (BROWSE, CURATE),
    "api/images/<image_id>": (BROWSE, CURATE),
    "api/uploads/<upload_id>": (BROWSE, BROWSE),
    "api/characters/<slug>/runs": (BROWSE, LAUNCH_RUNS),
    "api/characters/<slug>/likeness-runs": (BROWSE, LAUNCH_RUNS),
    "api/runs/<run_id>": (BROWSE, BROWSE),
    "api/runs/<run_id>/cancel": (BROWSE, LAUNCH_RUNS),
    "api/runs/<run_id>/approval": (BROWSE, MANAGE_BUDGETS),
    "api/calls/<call_id>/retry": (BROWSE, LAUNCH_RUNS),
    "api/characters/<slug>/datasets": (BROWSE, EDIT_DATASETS),
    "api/datasets/<dataset_id>": (BROWSE, EDIT_DATASETS),
    "api/datasets/<dataset_id>/items": (BROWSE, EDIT_DATASETS),
    "api/dataset-items/<item_id>": (BROWSE, EDIT_DATASETS),
    "api/datasets/<dataset_id>/replace": (BROWSE, EDIT_DATASETS),
    "api/datasets/<dataset_id>/captions": (BROWSE, LAUNCH_RUNS),
    "api/datasets/<dataset_id>/fill-gap": (BROWSE, LAUNCH_RUNS),
    "api/datasets/<dataset_id>/exports": (BROWSE, EXPORT_DATASETS),
    "api/exports/<export_id>": (BROWSE, BROWSE),
    "api/training-jobs": (BROWSE, TRAIN),
    "api/training-jobs/<job_id>": (BROWSE, BROWSE),
    "api/training-jobs/<job_id>/cancel": (BROWSE, TRAIN),
    "api/characters/<slug>/loras": (BROWSE, BROWSE),
    "api/loras/<lora_id>/approve": (BROWSE, REVIEW_LORAS),
    "api/loras/<lora_id>/retire": (BROWSE, REVIEW_LORAS),
    "api/characters/<slug>/pin": (BROWSE, PIN),
    "api/characters/<slug>/pins": (BROWSE, BROWSE),
    "api/webhook-endpoints": (MANAGE_WEBHOOKS, MANAGE_WEBHOOKS),
    "api/webhook-endpoints/<endpoint_id>": (MANAGE_WEBHOOKS, MANAGE_WEBHOOKS),
    "api/webhook-deliveries/<delivery_id>/redeliver": (MANAGE_WEBHOOKS, MANAGE_WEBHOOKS),
    "api/budgets": (VIEW_USAGE, MANAGE_BUDGETS),
    "api/usage": (VIEW_USAGE, VIEW_USAGE),
    "api/usage.csv": (VIEW_USAGE, VIEW_USAGE),
}
UNLISTED = (BROWSE, ADMINISTER)


class PermissionRefused(Refusal):
    """The user's role does not hold the permission this action asks for."""

    status_code = 403


def required_permission(route: str, method: str) -> str | None:
    """The permission `method` on `route` asks for; None for the open routes."""
    if route in OPEN:
        return None
    read, change = RULES.get(route, UNLISTED)
    return read if method.upper() in READS else change


def describe(permission: str) -> str:
    app_label, codename = permission.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    return found.name if found else permission


def check(user, route: str, method: str) -> None:
    """Refuse (403, naming the permission) what `user`'s role may not do on `route`."""
    permission = required_permission(route, method)
    if permission is None or user.has_perm(permission):
        return
    raise PermissionRefused(
        f"Your role may not do this: it needs the permission “{permission}” "
        f"({describe(permission)}). Ask a lead or an admin.",
        extra={"permission": permission},
    )


class PermissionMiddleware:
    """The pages' side of the check (the admin site checks its own permissions; the API's
    operations are checked once their token or session is known, in lorastudio.api)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        route = match.route if match else ""
        if route.startswith(("admin/", "api/")) or not request.user.is_authenticated:
            return None
        try:
            check(request.user, route, request.method)
        except PermissionRefused as exc:
            if request.method in READS and request.headers.get("HX-Request") != "true":
                # A page the role may not open: say why here (going back could loop).
                context = {"message": exc.message, "permission": exc.extra["permission"]}
                return render(request, "refused.html", context, status=403)
            return refused(request, exc.message, status=exc.status_code)
        return None
