"""Roles: Django groups made of the studio's permissions (lorastudio.models.StudioPermission).

- viewer: browse, download, read the API;
- artist: characters, generation within the budget, curation, datasets, exports;
- lead: training, approving or retiring LoRA versions, pins, webhooks, budgets, usage;
- admin: everything, and the admin site (a superuser, in the admin group).

The groups are made by a data migration with these defaults and are edited in the admin
afterwards; `ensure_roles` only adds a group that is missing (after a test database flush,
say), it never puts back a permission someone took away. What each URL asks for is in
`lorastudio.access`.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import models, transaction

VIEWER, ARTIST, LEAD, ADMIN = "viewer", "artist", "lead", "admin"
ROLES = (VIEWER, ARTIST, LEAD, ADMIN)

BROWSE = "lorastudio.browse"
EDIT_CHARACTERS = "lorastudio.edit_characters"
CURATE = "lorastudio.curate"
LAUNCH_RUNS = "lorastudio.launch_runs"
EDIT_DATASETS = "lorastudio.edit_datasets"
EXPORT_DATASETS = "lorastudio.export_datasets"
TRAIN = "lorastudio.train"
REVIEW_LORAS = "lorastudio.review_loras"
PIN = "lorastudio.pin"
MANAGE_WEBHOOKS = "lorastudio.manage_webhooks"
MANAGE_BUDGETS = "lorastudio.manage_budgets"
VIEW_USAGE = "lorastudio.view_usage"
ADMINISTER = "lorastudio.administer"

_VIEWER = [BROWSE]
_ARTIST = [*_VIEWER, EDIT_CHARACTERS, CURATE, LAUNCH_RUNS, EDIT_DATASETS, EXPORT_DATASETS]
_LEAD = [*_ARTIST, TRAIN, REVIEW_LORAS, PIN, MANAGE_WEBHOOKS, MANAGE_BUDGETS, VIEW_USAGE]
DEFAULT_PERMISSIONS = {VIEWER: _VIEWER, ARTIST: _ARTIST, LEAD: _LEAD}  # admin: every one


class UnknownRole(ValueError):
    pass


def _permissions(names, permission_model=Permission):
    codenames = [name.split(".", 1)[1] for name in names]
    return permission_model.objects.filter(
        content_type__app_label="lorastudio", codename__in=codenames
    )


def ensure_roles(*, group_model=Group, permission_model=Permission) -> list[str]:
    """Make the four groups that are missing, with their default permissions; returns the
    names made. Existing groups are left as the admin set them."""
    made = []
    for role in ROLES:
        group, created = group_model.objects.get_or_create(name=role)
        if not created:
            continue
        made.append(role)
        if role == ADMIN:
            group.permissions.set(permission_model.objects.all())
        else:
            group.permissions.set(_permissions(DEFAULT_PERMISSIONS[role], permission_model))
    return made


@dataclass(frozen=True)
class Grants:
    groups: frozenset[str]  # the names of the user's groups
    permissions: frozenset[str]  # "app_label.codename", from the groups and the user's own


_GRANTS = "_studio_grants"  # where grants() keeps them on the user object, for its request


def grants(user) -> Grants:
    """The user's groups and permissions in one query, read once per user object (a request
    loads its user afresh: a change of role counts from the next request). Every page asks
    for both: the role in the shell, the permission its route needs (lorastudio.access)."""
    found = getattr(user, _GRANTS, None)
    if found is None:
        no_group = models.Value(None, output_field=models.CharField())
        rows = (
            Group.objects.filter(user=user)
            .values_list("name", "permissions__content_type__app_label", "permissions__codename")
            .union(
                Permission.objects.filter(user=user).values_list(
                    no_group, "content_type__app_label", "codename"
                ),
                all=True,
            )
        )
        groups, permissions = set(), set()
        for group, app_label, codename in rows:
            if group is not None:
                groups.add(group)
            if codename is not None:
                permissions.add(f"{app_label}.{codename}")
        found = Grants(frozenset(groups), frozenset(permissions))
        setattr(user, _GRANTS, found)
    return found


def forget_grants(user) -> None:
    """Drop what grants() (and Django's permission backend) remembered on this user object."""
    for cache in (_GRANTS, "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


def role_of(user) -> str | None:
    """The highest of the four roles the user's groups hold (superusers are admins)."""
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = grants(user).groups if user.pk else frozenset()
    return next((role for role in reversed(ROLES) if role in names), None)


@transaction.atomic
def set_role(*, user: AbstractBaseUser, role: str, by: AbstractBaseUser | None = None) -> None:
    """Give `user` exactly one of the four roles. An admin is a superuser (everything, the
    admin site); the others are neither staff nor superuser. Recorded in the audit trail
    (by the groups' m2m signal)."""
    if role not in ROLES:
        raise UnknownRole(f"Unknown role “{role}”: use one of {', '.join(ROLES)}.")
    ensure_roles()
    others = Group.objects.filter(name__in=ROLES).exclude(name=role)
    user.groups.remove(*others)
    user.groups.add(Group.objects.get(name=role))
    user.is_staff = user.is_superuser = role == ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    forget_grants(user)
