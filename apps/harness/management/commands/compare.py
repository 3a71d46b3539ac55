import json
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.engines.models import Engine
from apps.harness import services
from apps.harness.views import SETTLED
from apps.policy.models import Tier
from apps.renders.pipeline.submit import parse_size


class Command(BaseCommand):
    help = "Render the same prompts and seeds on several engines (needs running workers) and print the grid."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--engines", required=True, help="Comma-separated engine slugs.")
        parser.add_argument("--prompt", action="append", required=True, help="Repeat for several prompts.")
        parser.add_argument("--seeds", default="1")
        parser.add_argument("--size", default="768x512")
        parser.add_argument("--tier", default="production")
        parser.add_argument("--user", default="admin")
        parser.add_argument("--name", default="CLI comparison")
        parser.add_argument("--timeout", type=float, default=300)

    def handle(self, *args: object, **opts: object) -> None:
        slugs = [s for s in str(opts["engines"]).split(",") if s]
        engines = list(Engine.objects.filter(slug__in=slugs))
        if len(engines) != len(slugs):
            missing = set(slugs) - {e.slug for e in engines}
            raise CommandError(f"Unknown engine(s): {', '.join(sorted(missing))}.")
        tier = Tier.objects.filter(slug=opts["tier"]).first()
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if tier is None or user is None:
            raise CommandError("Unknown tier or user (run seed_demo?).")
        try:
            width, height = parse_size(str(opts["size"]))
            seeds = [int(s) for s in str(opts["seeds"]).split(",") if s]
            comparison = services.comparison_create(
                name=str(opts["name"]),
                engines=engines,
                prompts=list(opts["prompt"]),
                seeds=seeds,  # type: ignore[arg-type]
                width=width,
                height=height,
                tier=tier,
                by=user,
            )
        except (ValueError, services.ComparisonError) as exc:
            raise CommandError(str(exc)) from exc
        deadline = time.monotonic() + float(opts["timeout"])  # type: ignore[arg-type]
        while time.monotonic() < deadline:
            if all(c.job.status in SETTLED for c in comparison.cells.select_related("job")):
                break
            time.sleep(0.2)
        for row in services.comparison_grid(comparison):
            for cell in row.cells:
                a = cell.attempt
                self.stdout.write(
                    json.dumps(
                        {
                            "prompt": row.prompt,
                            "seed": row.seed,
                            "engine": cell.engine.slug,
                            "status": cell.job_status,
                            "timings_ms": a.timings_ms if a else None,
                            "verdict": a.verification.verdict if a and a.verification else None,
                            "ocr_text": a.verification.ocr_text if a and a.verification else None,
                            "difference_pct": cell.difference,
                        }
                    )
                )
