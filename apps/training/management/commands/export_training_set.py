import argparse
import json
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.catalog.models import Template
from apps.training.export import ExportOptions, ExportResult, training_set_export, training_set_zip
from apps.training.services import since_start


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


class Command(BaseCommand):
    help = (
        "Export a template's approved and delivered renders as a training set (images, captions, "
        "manifest.jsonl, train/validation split, report.json) into OUT, a folder, or a zip when OUT "
        "ends in .zip. Format: apps/training/README.md."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("out", metavar="OUT")
        parser.add_argument("--template", required=True, metavar="SLUG")
        parser.add_argument(
            "--since",
            type=date.fromisoformat,
            metavar="DATE",
            help="Only jobs submitted on or after DATE (YYYY-MM-DD).",
        )
        parser.add_argument("--split", type=_fraction, default=0.9, help="Share of the set in train (default 0.9).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split and of synthetic pairs (default 0).")
        parser.add_argument(
            "--min-real",
            type=int,
            default=30,
            help="With fewer real renders than this, synthetic compositor pairs fill up to it (default 30; 0: never).",
        )
        parser.add_argument(
            "--repeats", type=int, default=10, help="kohya num_repeats of the train folder (default 10)."
        )

    def handle(self, *args: object, **opts: object) -> None:
        template = Template.objects.filter(slug=opts["template"]).first()
        if template is None:
            raise CommandError(f"No template {opts['template']!r}.")
        since = opts["since"]
        options = ExportOptions(
            since=since_start(since) if isinstance(since, date) else None,
            split=float(opts["split"]),  # type: ignore[arg-type]
            seed=int(opts["seed"]),  # type: ignore[call-overload]
            min_real=max(0, int(opts["min_real"])),  # type: ignore[call-overload]
            repeats=max(1, int(opts["repeats"])),  # type: ignore[call-overload]
        )
        out = Path(str(opts["out"]))
        try:
            if out.suffix == ".zip":
                result: ExportResult = training_set_zip(template=template, archive=out, options=options)
            else:
                result = training_set_export(template=template, out_dir=out, options=options)
        except FileExistsError as exc:
            raise CommandError(f"{exc}: choose an empty or new folder.") from exc
        self.stdout.write(json.dumps(result.report, indent=2, ensure_ascii=False))
        report = result.report
        self.stderr.write(
            f"{report['included']['total']} images ({report['included']['real']} real, "
            f"{report['included']['synthetic']} synthetic; train {report['split']['train']['total']}, "
            f"validation {report['split']['validation']['total']}), {report['left_out_total']} left out "
            f"→ {out} (report.json inside)"
        )
