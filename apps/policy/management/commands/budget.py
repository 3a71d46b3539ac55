"""`manage.py budget [--json]`: per tier, today's limit, spent and reserved."""

import json

from django.core.management.base import BaseCommand

from apps.policy.selectors import budget_report


class Command(BaseCommand):
    help = "Show today's budget per tier: limit, spent, reserved (USD)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: object, **options: object) -> None:
        report = budget_report()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"Budget day {report['day']} ({report['timezone']})")
        self.stdout.write(f"{'tier':<16}{'limit':>12}{'spent':>12}{'reserved':>12}{'available':>12}")
        for slug, row in report["tiers"].items():  # type: ignore[attr-defined]
            self.stdout.write(
                f"{slug:<16}{row['limit_usd']:>12}{row['spent_usd']:>12}{row['reserved_usd']:>12}"
                f"{row['available_usd']:>12}"
            )
