"""Django's model backend, with a user's permissions read in the one query that also gives
the role (lorastudio.roles.grants) instead of two more on every request."""

from django.contrib.auth.backends import ModelBackend

from .roles import grants


class RolePermissionBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
            return set()
        if user_obj.is_superuser:  # every permission there is, as Django's backend gives
            return super().get_all_permissions(user_obj, obj)
        return set(grants(user_obj).permissions)
