from django.core.management.base import BaseCommand

from apps.renders.demo import demo_seed


class Command(BaseCommand):
    help = "Create or update demo users, tiers, templates and the built-in (simulated) engines."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--password", help="Use this password for every demo user (default: random).")

    def handle(self, *args: object, password: str | None, **options: object) -> None:
        users = demo_seed(password=password)
        self.stdout.write("Demo data ready. The built-in engines are offline simulations, not image models.")
        for username, clear in users.items():
            self.stdout.write(f"  login: {username:<10} password: {clear}")
