from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from lorastudio.roles import ROLES, set_role


class Command(BaseCommand):
    help = "Give a login one role: viewer, artist, lead or admin (admin: superuser and staff)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=ROLES)

    def handle(self, *args, username, role, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No login named “{username}”: create it with createsuperuser "
                "or in the admin first."
            )
        set_role(user=user, role=role)
        self.stdout.write(f"{username} is now {'an' if role[0] in 'aeiou' else 'a'} {role}.")
