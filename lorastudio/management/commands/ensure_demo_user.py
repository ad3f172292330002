from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from lorastudio.roles import LEAD, ROLES, set_role


class Command(BaseCommand):
    help = "Create (or reset) the demo login for a local `make run` (a lead); never for production."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-lorastudio")
        parser.add_argument("--role", default=LEAD, choices=ROLES)

    def handle(self, *args, username, password, role, **options):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.set_password(password)
        user.save()
        set_role(user=user, role=role)
        self.stdout.write(
            f"{'Created' if created else 'Reset'} demo login {username} / {password} ({role})"
        )
