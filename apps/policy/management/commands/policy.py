"""`manage.py policy export [--output FILE]` and `manage.py policy import FILE`."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.policy.policy_file import PolicyFileError, policy_export, policy_import


class Command(BaseCommand):
    help = "Export the policy (tiers, engines, asset classes, ladders) as JSON, or import a policy file."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Print the policy as JSON (or write it to --output).")
        export.add_argument("--output", "-o", default="")
        imp = sub.add_parser("import", help="Apply a policy file (all or nothing).")
        imp.add_argument("file", help="Path to the JSON file, or - for stdin.")

    def handle(self, *args: object, action: str, **options: object) -> None:
        if action == "export":
            text = json.dumps(policy_export(), indent=2, sort_keys=False) + "\n"
            output = str(options.get("output") or "")
            if output:
                Path(output).write_text(text)
                self.stdout.write(f"Policy written to {output}.")
            else:
                self.stdout.write(text, ending="")
            return
        name = str(options["file"])
        try:
            raw = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from exc
        try:
            report = policy_import(data=data, actor_name="cli")
        except PolicyFileError as exc:
            raise CommandError(f"Refused, nothing imported: {exc}") from exc
        for note in report.notes:
            self.stdout.write(f"Note: {note}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(report.tiers)} tier(s) ({', '.join(report.tiers) or '-'}), "
                f"{len(report.engines)} engine(s), {len(report.asset_classes)} asset class(es)."
            )
        )
