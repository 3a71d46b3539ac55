"""A seeded demo template's history, made by the real pipeline (engine → store → OCR gate) and
the moderators' real decisions, for the training-set export tests."""

from dataclasses import dataclass, field

from apps.catalog.models import Adapter, Template
from apps.catalog.services import template_set_adapter
from apps.engines.models import AdapterKind, Engine
from apps.moderation import services as moderation
from apps.policy.models import Tier
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.moderation.helpers import run_pending, typo_engine

TEMPLATE = "editorial-cover"


def exact_engine() -> Engine:
    """A built-in engine that never misspells (typo rate 0): the gate passes what it draws."""
    engine, _ = Engine.objects.update_or_create(
        slug="exact-sim",
        defaults={
            "name": "Never misspells",
            "adapter": AdapterKind.BUILTIN,
            "model_id": "builtin-exact-sim",
            # The simulation applies only adapters it knows: the demo LoRA's reference is one.
            "params": {
                "latency_p50_ms": 1,
                "latency_sigma": 0.0,
                "typo_rate": 0.0,
                "adapters": {"cover_v1.safetensors": 1.0},
            },
            "is_simulation": True,
            "enabled": True,
            "capabilities": {"seed": True, "guidance": True},
        },
    )
    return engine


def final_job(*, editor, captured, title: str, seed: int, engine: Engine, template: str = TEMPLATE) -> RenderJob:  # type: ignore[no-untyped-def]
    """A job straight to the final stage on `engine`, one attempt allowed, run until it rests."""
    tier = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=tier.pk).update(max_attempts=1)
    tpl = Template.objects.get(slug=template)
    with captured(execute=False):
        job = job_submit(
            submitted_by=editor,
            template=tpl,
            texts={tpl.slots[0]["name"]: title},
            seed=seed,
            engine=engine,
            with_preview=False,
            tier=tier,
        )
    return run_pending(job, captured)


@dataclass
class History:
    first_pass: list[RenderJob] = field(default_factory=list)  # the gate passed the first final
    approved: RenderJob | None = None  # failed the gate, approved by a moderator
    edited: RenderJob | None = None  # a moderator edited the title; the re-render passed
    escalated: RenderJob | None = None  # a moderator's re-render (new seed, same text) passed
    rejected: list[RenderJob] = field(default_factory=list)
    waiting: RenderJob | None = None  # still in the review queue
    duplicate_image: RenderJob | None = None  # same seed, text and engine as first_pass[0]: same bytes
    other_template: RenderJob | None = None


def template_history(*, editor, moderator, captured) -> History:  # type: ignore[no-untyped-def]
    """Eleven jobs of the demo's editorial cover, with an adapter attached (and one job of another
    template), each taking a different road through the gate and the review queue."""
    exact, typo = exact_engine(), typo_engine()
    # An adapter both simulations know at factor 1.0 (applied, no effect on their typo rates), at 0.8.
    typo.params = {**typo.params, "adapters": {"cover_v1.safetensors": 1.0}}
    typo.save(update_fields=["params"])
    adapter = Adapter.objects.create(
        slug="cover-lora", name="Cover LoRA", base_model="sd_xl_base_1.0", reference="cover_v1.safetensors"
    )
    template_set_adapter(template=Template.objects.get(slug=TEMPLATE), adapter=adapter, strength=0.8, by=moderator)
    history = History()
    titles = ["Harbour Lights Tonight", "Spring Sale Week", "Night Market Stories", "Quiet Coast"]
    for seed, title in enumerate(titles, start=11):
        history.first_pass.append(final_job(editor=editor, captured=captured, title=title, seed=seed, engine=exact))
    history.duplicate_image = final_job(editor=editor, captured=captured, title=titles[0], seed=11, engine=exact)

    history.approved = final_job(editor=editor, captured=captured, title="Golden Harvest", seed=21, engine=typo)
    moderation.moderation_approve(job=history.approved, by=moderator, reason="Legible enough")

    history.edited = final_job(editor=editor, captured=captured, title="Wintr Market", seed=22, engine=typo)
    moderation.moderation_rerender(
        job=history.edited, by=moderator, texts={"title": "Winter Market"}, engine=exact, seed=23
    )
    history.edited = run_pending(history.edited, captured)

    history.escalated = final_job(editor=editor, captured=captured, title="Forest Voices", seed=24, engine=typo)
    moderation.moderation_rerender(job=history.escalated, by=moderator, engine=exact, seed=25)
    history.escalated = run_pending(history.escalated, captured)

    for seed, title in ((31, "Museum Archive"), (32, "Theatre Tonight")):
        job = final_job(editor=editor, captured=captured, title=title, seed=seed, engine=typo)
        moderation.moderation_reject(job=job, by=moderator, reason="Misspelled title")
        job.refresh_from_db()
        history.rejected.append(job)

    history.waiting = final_job(editor=editor, captured=captured, title="Desert Journal", seed=41, engine=typo)
    history.other_template = final_job(
        editor=editor, captured=captured, title="SALE", seed=51, engine=exact, template="product-thumbnail"
    )
    for job in [history.approved, history.edited, history.escalated]:
        job.refresh_from_db()
    return history


def statuses(history: History) -> dict[str, str]:
    jobs = {
        "approved": history.approved,
        "edited": history.edited,
        "escalated": history.escalated,
        "waiting": history.waiting,
    }
    out = {name: job.status for name, job in jobs.items() if job is not None}
    out["first_pass"] = ",".join(sorted({j.status for j in history.first_pass}))
    out["rejected"] = ",".join(sorted({j.status for j in history.rejected}))
    return out


DELIVERED = JobStatus.DELIVERED
