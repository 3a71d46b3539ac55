"""`manage.py budget [--json]`: per tier, today's limit, spent and reserved.
`manage.py budget reconcile [--day YYYY-MM-DD]`: the ledger checked against the attempts;
prints every difference and exits 1 when there is one.

It lives in the renders app because reconciling reads the attempts, which the policy app
(below renders) may not import."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.policy.selectors import budget_report
from apps.renders.selectors import ledger_differences


class Command(BaseCommand):
    help = "Show today's budget per tier (limit, spent, reserved, USD), or reconcile the ledger with the attempts."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("action", nargs="?", choices=["show", "reconcile"], default="show")
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument("--day", type=date.fromisoformat, help="reconcile: only this budget day (YYYY-MM-DD).")

    def handle(self, *args: object, **options: object) -> None:
        if options["action"] == "reconcile":
            self.reconcile(day=options["day"])  # type: ignore[arg-type]
            return
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

    def reconcile(self, *, day: date | None) -> None:
        checked, differences = ledger_differences(day=day)
        for difference in differences:
            self.stdout.write(str(difference))
        if differences:
            raise CommandError(f"The ledger differs from the attempts in {len(differences)} place(s).")
        self.stdout.write(f"The ledger matches the attempts ({checked} ledger row(s) checked).")
