from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create a bearer token for USERNAME and print it (only its hash is stored)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument(
            "--expires-days", type=float, default=None, help="Refuse the token after this many days (default: never)."
        )

    def handle(self, *args: object, username: str, name: str, expires_days: float | None, **options: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be more than 0.")
        self.stdout.write(api_token_create(user=user, name=name, expires_days=expires_days))
