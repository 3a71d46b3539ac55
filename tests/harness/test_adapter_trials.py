"""The before/after preset: one template with and without its adapter on the same seeds."""

import pytest

from apps.catalog.models import Adapter, Template
from apps.catalog.services import template_set_adapter
from apps.engines.models import AdapterKind, Engine
from apps.harness.adapter_trials import TrialError, adapter_trial_create, adapter_trial_view
from apps.policy.models import Tier
from tests.moderation.helpers import run_pending, typo_engine


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


@pytest.fixture
def cover(demo, admin_user):  # type: ignore[no-untyped-def]
    template = Template.objects.get(slug="editorial-cover")
    adapter = Adapter.objects.get(slug="cover-typography-sim")
    template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user)
    return template


def _create(template, engine, admin_user, seeds=(1, 2)):  # type: ignore[no-untyped-def]
    return adapter_trial_create(
        template=template,
        engine=engine,
        texts={"title": "Harbour Lights"},
        seeds=list(seeds),
        tier=Tier.objects.get(slug="preview"),
        by=admin_user,
    )


def test_adapter_trial_creates_a_with_and_a_without_job_per_seed(cover, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        trial = _create(cover, typo_engine(), admin_user, seeds=(4, 9))

    cells = list(trial.cells.select_related("job"))
    assert [(c.seed, c.with_adapter, c.job.seed, c.job.adapter_off) for c in cells] == [
        (4, False, 4, True),
        (4, True, 4, False),
        (9, False, 9, True),
        (9, True, 9, False),
    ]
    assert {c.job.engine.slug for c in cells} == {"typo-always"}
    assert [c.job.attempts.get().adapter_use for c in cells] == ["off", "applied", "off", "applied"]


def test_adapter_trial_shows_the_difference_once_rendered(cover, admin_user, django_capture_on_commit_callbacks):
    """Real engine simulation and real OCR gate: an always-misspelling engine fails every
    first pass without the adapter; with it (typo rate 1.0 × 0.2) most seeds pass."""
    Tier.objects.filter(slug="preview").update(max_attempts=1)
    with django_capture_on_commit_callbacks(execute=False):
        trial = _create(cover, typo_engine(), admin_user, seeds=range(1, 7))
    for cell in trial.cells.select_related("job"):
        run_pending(cell.job, django_capture_on_commit_callbacks)

    view = adapter_trial_view(trial)

    assert not view.running
    assert (view.without.jobs, view.with_adapter.jobs) == (6, 6)
    assert view.without.first_pass_rate == 0.0
    assert view.with_adapter.first_pass_rate is not None and view.with_adapter.first_pass_rate >= 0.5
    assert view.delta.first_pass_rate == view.with_adapter.first_pass_rate
    assert [row.seed for row in view.rows] == [1, 2, 3, 4, 5, 6]


def test_adapter_trial_refuses_an_engine_that_cannot_apply_adapters(cover, admin_user):
    vendor = Engine.objects.create(slug="ideo", name="Ideogram 3", adapter=AdapterKind.IDEOGRAM)

    with pytest.raises(TrialError, match="cannot apply adapters"):
        _create(cover, vendor, admin_user)


def test_adapter_trial_needs_a_template_with_an_adapter(demo, admin_user):
    with pytest.raises(TrialError, match="has no adapter"):
        _create(Template.objects.get(slug="product-thumbnail"), typo_engine(), admin_user)


def test_adapter_trial_page_offers_only_engines_that_apply_adapters(cover, admin_user, client):
    Engine.objects.create(slug="ideo", name="Ideogram 3", adapter=AdapterKind.IDEOGRAM, enabled=True)
    client.force_login(admin_user)

    page = client.get(f"/harness/adapters/?template={cover.slug}").content.decode()

    engine_select = page.split('name="engine"')[1].split("</select>")[0]
    assert "Built-in Turbo" in engine_select and "Ideogram 3" not in engine_select
    excluded = page.split('id="trial-excluded"')[1].split("</ul>")[0]
    assert "Not offered (cannot apply Cover typography (simulated))" in excluded
    assert "Ideogram 3: Ideogram&#x27;s API takes no LoRA" in excluded


def test_adapter_trial_page_with_no_engine_for_the_adapter_offers_no_run_and_says_why(demo, admin_user, client):
    """A LoRA file the simulation does not know: no enabled engine applies it. The page showed
    an empty engine list under a live 'Run' button, and said the simulations 'cannot apply
    adapters' (they can: only known references)."""
    template = Template.objects.get(slug="editorial-cover")
    lora = Adapter.objects.create(
        slug="headline", name="Headline LoRA", base_model="sdxl", reference="headline.safetensors"
    )
    template_set_adapter(template=template, adapter=lora, strength=None, by=admin_user)
    client.force_login(admin_user)

    page = client.get(f"/harness/adapters/?template={template.slug}").content.decode()

    assert 'id="start-trial"' not in page
    assert "No enabled engine can apply Headline LoRA, so there is nothing to compare." in page
    excluded = page.split('id="trial-excluded"')[1].split("</ul>")[0]
    assert "Built-in Ultra (simulation): The simulation knows only renderhub-sim/typography-lora" in excluded
