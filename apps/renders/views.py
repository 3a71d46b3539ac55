"""Editor pages: new render, the live job page, my renders, and the private image view."""

import secrets
import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from apps.core.access import permission_required
from apps.renders import downloads, selectors
from apps.renders.forms import JobFilterForm, NewRenderForm, texts_carry_over
from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderAttempt
from apps.renders.pipeline.attempts import MAX_SEED
from apps.renders.pipeline.decisions import (
    BudgetError,
    final_repeats_failed_preview,
    job_cancel,
    job_request_final,
)
from apps.renders.pipeline.state import CANCELLABLE, TransitionError
from apps.renders.pipeline.submit import SubmissionError, job_submit

# Polling stops once nothing will change without someone acting.
RESTING = SETTLED_STATUSES | {JobStatus.PREVIEW_READY}


@permission_required("renders.submit_render")
@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest) -> HttpResponse:
    initial = {"template": request.GET.get("template")}
    if request.method == "GET" and request.GET.get("from"):
        # "Edit the text": the form filled in from one of the user's jobs.
        source = selectors.job_for_user(user=request.user, public_id=request.GET["from"])
        initial = {
            "template": source.template_id,
            "seed": source.seed,
            "size": f"{source.width}x{source.height}",
            "tier": source.requested_tier_id or source.tier_id,
            **{f"text_{name}": text for name, text in source.texts.items()},
        }
    if request.method == "POST" and "switch" in request.POST:
        # Without JavaScript the template is switched by a submit: the form comes back for the
        # new template with everything typed so far (slot texts of the same name included).
        keep = ("template", "seed", "size", "tier")
        initial = {k: v for k, v in request.POST.items() if k in keep}
        slots = [name[5:] for name in NewRenderForm(initial=initial).fields if name.startswith("text_")]
        typed = {k[5:]: v for k, v in request.POST.items() if k.startswith("text_")}
        placed, notes = texts_carry_over(typed=typed, slots=slots)
        initial.update({f"text_{name}": text for name, text in placed.items()})
        form = NewRenderForm(initial=initial)
        return render(request, "renders/job_new.html", {"form": form, "switch_notes": notes})
    form = NewRenderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        size = form.cleaned_data["size"]
        try:
            job = job_submit(
                submitted_by=request.user,
                template=form.cleaned_data["template"],
                texts=form.slot_texts(),
                seed=form.cleaned_data["seed"],
                width=size[0] if size else None,
                height=size[1] if size else None,
                tier=form.cleaned_data["tier"],
            )
        except SubmissionError as exc:
            for field, message in exc.errors.items():
                form.add_error(f"text_{field}" if f"text_{field}" in form.fields else None, message)
        else:
            return redirect("renders:job-detail", public_id=job.public_id)
    return render(request, "renders/job_new.html", {"form": form})


@permission_required("renders.submit_render")
@require_GET
def template_fields(request: HttpRequest) -> HttpResponse:
    """htmx: the slot fields of the chosen template."""
    form = NewRenderForm(initial={"template": request.GET.get("template")})
    return render(request, "renders/job_new.html#slot-fields", {"form": form})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def job_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    version = None
    if request.htmx:
        # Polls every 400 ms from every open job page: when nothing changed, answer 304 from
        # one aggregate query (the browser's cache hands htmx the last body) instead of
        # loading the attempts and rendering the partial again.
        version = selectors.job_page_version(user=request.user, public_id=public_id)
        if version is not None and request.headers.get("If-None-Match") == f'"{version}"':
            response = HttpResponseNotModified()
            response["ETag"] = f'"{version}"'
            return response
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    context = {
        "job": job,
        "preview": selectors.job_preview_attempt(job),
        "final": selectors.job_final_attempt(job),
        "polling": job.status not in RESTING or selectors.job_calls_in_flight(job),
        "fallbacks": selectors.job_fallbacks(job),
        "price_unknown": selectors.job_price_unknown(job),
        "adapter_notes": selectors.job_adapter_notes(job),
        "latency": selectors.job_latency(job),
        "deferral": selectors.job_deferral(job),
        "cancellable": CANCELLABLE,
        "final_next_seed": job.status == JobStatus.PREVIEW_READY and final_repeats_failed_preview(job),
        "server_now_ms": round(time.time() * 1000),  # the running clock's reference (running-clock.js)
    }
    if request.htmx:
        response = render(request, "renders/job_detail.html#job-status", context)
        if not context["polling"]:
            # 286: htmx swaps this last state in and stops polling.
            response.status_code = HttpResponseStopPolling.status_code
        elif version is not None:
            response["ETag"] = f'"{version}"'
            response["Cache-Control"] = "private, no-cache"
        return response
    return render(request, "renders/job_detail.html", context)


@permission_required("renders.submit_render")
@require_POST
def job_final(request: HttpRequest, public_id: str) -> HttpResponse:
    """Only the job's submitter may ask for its final: the final is charged to the submitter's
    budget and team, so a moderator or admin acting on it would spend in someone else's name."""
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    if job.submitted_by_id != request.user.pk:
        raise PermissionDenied(f"Only {job.submitted_by} can request the final of this render (it is charged to them).")
    try:
        job_request_final(job, by=request.user)
    except TransitionError:
        pass  # already on its way: the page shows the current state
    except BudgetError as exc:
        messages.error(request, str(exc))
    return redirect("renders:job-detail", public_id=job.public_id)


@permission_required("renders.submit_render")
@require_POST
def job_cancel_view(request: HttpRequest, public_id: str) -> HttpResponse:
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    try:
        job_cancel(job, by=request.user)
    except TransitionError as exc:
        messages.error(request, str(exc))
    return redirect("renders:job-detail", public_id=job.public_id)


@permission_required("renders.submit_render")
@require_POST
def job_again(request: HttpRequest, public_id: str) -> HttpResponse:
    """A new job with the same template, text, size and tier: the same seed or a new one."""
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    if job.template is None:
        messages.error(request, "Only template renders can be started again from this page.")
        return redirect("renders:job-detail", public_id=job.public_id)
    seed = job.seed if request.POST.get("seed") == "same" else secrets.randbelow(MAX_SEED)
    try:
        again = job_submit(
            submitted_by=request.user,
            template=job.template,
            texts=job.texts,
            seed=seed,
            width=job.width,
            height=job.height,
            tier=job.requested_tier or job.tier,
        )
    except SubmissionError as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect("renders:job-detail", public_id=job.public_id)
    return redirect("renders:job-detail", public_id=again.public_id)


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    form = JobFilterForm(request.GET or None)
    jobs = selectors.jobs_visible_to(request.user)
    everyone = request.GET.get("all") == "1" and request.user.has_perm("renders.view_all_renders")
    if not everyone:
        jobs = jobs.filter(submitted_by=request.user)
    if form.is_valid():
        data = form.cleaned_data
        if data["status"]:
            jobs = jobs.filter(status=data["status"])
        if data["template"]:
            jobs = jobs.filter(template=data["template"])
        if data["tier"]:
            jobs = jobs.filter(tier=data["tier"])
        if data["q"]:
            jobs = selectors.jobs_matching(jobs, data["q"])
    jobs = jobs.prefetch_related(
        Prefetch("attempts", queryset=RenderAttempt.objects.select_related("verification").order_by("number"))
    )
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    return render(request, "renders/job_list.html", {"form": form, "page": page, "everyone": everyone})


@login_required
@require_GET
def attempt_thumb(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    """A small cached rendition for lists, through the same access check as the image."""
    attempt = selectors.attempt_for_user(user=request.user, public_id=public_id, number=number)
    if not attempt.image:
        return HttpResponse("This attempt has no image.", status=404, content_type="text/plain")
    response = HttpResponse(downloads.thumbnail(attempt), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_POST
def jobs_download(request: HttpRequest) -> HttpResponse:
    """The selected jobs (that the user may see) as a zip of images and a manifest."""
    ids = request.POST.getlist("job")[: downloads.MAX_ZIP_JOBS + 1]
    if not ids:
        messages.error(request, "Select at least one render to download.")
        return redirect("renders:job-list")
    if len(ids) > downloads.MAX_ZIP_JOBS:
        messages.error(request, f"At most {downloads.MAX_ZIP_JOBS} renders in one download.")
        return redirect("renders:job-list")
    jobs = selectors.jobs_by_public_ids(user=request.user, public_ids=ids)
    response = HttpResponse(downloads.jobs_zip(jobs), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="renders-{len(jobs)}.zip"'
    return response


@login_required
@require_GET
def attempt_image(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    """Images are private: served only to users who may see the job."""
    attempt = selectors.attempt_for_user(user=request.user, public_id=public_id, number=number)
    if not attempt.image:
        return HttpResponse("This attempt has no image.", status=404, content_type="text/plain")
    response = FileResponse(attempt.image.open("rb"), content_type=attempt.image_mime or "image/png")
    response["Content-Disposition"] = f'inline; filename="{attempt.job.public_id}-{attempt.number}.png"'
    response["Cache-Control"] = "private, max-age=3600"
    return response
