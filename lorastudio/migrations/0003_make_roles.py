"""The four roles (viewer, artist, lead, admin) as groups; existing logins become leads, as
until now every login could do everything a lead can (superusers stay admins)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def make_roles(apps, schema_editor):
    from lorastudio.roles import LEAD, ensure_roles

    config = apps.get_app_config("lorastudio")
    config.models_module = True  # so create_permissions sees the app's models
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    ensure_roles(group_model=Group, permission_model=apps.get_model("auth", "Permission"))
    lead = Group.objects.get(name=LEAD)
    for user in User.objects.filter(is_superuser=False, groups__isnull=True):
        user.groups.add(lead)


class Migration(migrations.Migration):
    dependencies = [
        ("lorastudio", "0002_roles_and_audit"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_roles, migrations.RunPython.noop)]
