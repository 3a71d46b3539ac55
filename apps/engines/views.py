"""Engine pages for admins: list, create, edit, detail with health, and the test button."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from apps.core.access import permission_required
from apps.engines import selectors, services
from apps.engines.forms import EngineForm
from apps.engines.models import Engine
from apps.engines.pricing import pricing_summary

MANAGE = "engines.manage_engines"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _engine(slug: str) -> Engine:
    return get_object_or_404(Engine, slug=slug)


@permission_required(MANAGE)
def engine_list(request: HttpRequest) -> HttpResponse:
    engines = Engine.objects.annotate(n_calls=Count("calls"), n_ok=Count("calls", filter=Q(calls__ok=True))).order_by(
        "slug"
    )
    rows = [(e, selectors.engine_price_note(engine=e)) for e in engines]
    return render(request, "engines/engine_list.html", {"engines": engines, "rows": rows})


@permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def engine_create(request: HttpRequest) -> HttpResponse:
    form = EngineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        engine = services.engine_save(engine=form.save(commit=False), before=None, by=request.user)
        return redirect("engines:engine-detail", slug=engine.slug)
    return render(request, "engines/engine_form.html", {"form": form, "engine": None})


@permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def engine_edit(request: HttpRequest, slug: str) -> HttpResponse:
    engine = _engine(slug)
    before = services.engine_snapshot(engine)
    form = EngineForm(request.POST or None, instance=engine)
    if request.method == "POST" and form.is_valid():
        engine = services.engine_save(engine=form.save(commit=False), before=before, by=request.user)
        return redirect("engines:engine-detail", slug=engine.slug)
    return render(request, "engines/engine_form.html", {"form": form, "engine": engine})


def _detail_context(engine: Engine) -> dict[str, object]:
    return {
        "engine": engine,
        "health": selectors.engine_health(engine=engine),
        "recent": engine.calls.all()[:15],
        "key_present": selectors.engine_key_present(engine=engine),
        "lifecycle": selectors.engine_lifecycle_note(engine=engine),
        "pricing": pricing_summary(engine),
    }


@permission_required(MANAGE)
def engine_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "engines/engine_detail.html", _detail_context(_engine(slug)))


@permission_required(MANAGE)
@require_POST
@vary_on_headers("HX-Request")
def engine_test(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Render one test image now and show it with its timings (htmx: just that panel)."""
    engine = _engine(slug)
    outcome = services.engine_test(engine=engine)
    if request.htmx:
        return render(request, "engines/engine_detail.html#engine-test", {"engine": engine, "outcome": outcome})
    return render(request, "engines/engine_detail.html", {**_detail_context(engine), "outcome": outcome})
