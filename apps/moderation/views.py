"""The moderation queue and review pages (moderator role: `moderation.moderate`).

Every action is a real form (POST + redirect) so the pages work without JavaScript; htmx only
refreshes the queue list in place, and static/js/moderation.js adds keyboard shortcuts.
"""

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.access import permission_required
from apps.moderation import selectors, services, undo
from apps.moderation.forms import (
    ApproveForm,
    BulkDecisionForm,
    ClaimNextForm,
    QueueFilterForm,
    RejectForm,
    RerenderForm,
    UndoForm,
)
from apps.moderation.models import ModerationDecision
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.decisions import BudgetError
from apps.renders.pipeline.state import TransitionError
from apps.renders.pipeline.submit import SubmissionError

PERM = "moderation.moderate"


def _job(public_id: object) -> RenderJob:
    return get_object_or_404(RenderJob.objects.select_related("template", "tier", "engine"), public_id=public_id)


def _filters(request: HttpRequest) -> dict:
    """The queue's filters: the query string, or on a POST the query string the page carried
    along in its "filters" field (so "next" stays within the filtered queue)."""
    data = QueryDict(request.POST.get("filters", "")) if request.method == "POST" else request.GET
    form = QueueFilterForm(data or None)
    if form.is_valid():
        return {k: v for k, v in form.cleaned_data.items() if v}
    return {}


def _queue_url(request: HttpRequest) -> str:
    query = request.POST.get("filters") or ""
    return reverse("moderation:queue") + (f"?{query}" if query else "")


def _review_url(request: HttpRequest, job: RenderJob) -> str:
    """The job's review page, still within the queue's filters the form carried along."""
    query = request.POST.get("filters") or ""
    return reverse("moderation:review", args=[job.public_id]) + (f"?{query}" if query else "")


UNDO_SESSION_KEY = "moderation_undo"


def _offer_undo(request: HttpRequest, decisions: list[ModerationDecision], text: str) -> None:
    """Remember the decisions just made, so the next page shows "<text> — Undo" while the
    window lasts (the server checks the window again when undo is asked)."""
    if not decisions:
        return
    until = min(undo.undo_deadline(d) for d in decisions)
    request.session[UNDO_SESSION_KEY] = {"ids": [d.pk for d in decisions], "text": text, "until": until.isoformat()}


def _undo_offer(request: HttpRequest) -> dict | None:
    """The undo bar's context while its window lasts (then it is dropped)."""
    offer = request.session.get(UNDO_SESSION_KEY)
    if not offer:
        return None
    until = datetime.fromisoformat(offer["until"])
    left = (until - timezone.now()).total_seconds()
    if left <= 0:
        del request.session[UNDO_SESSION_KEY]
        return None
    return {**offer, "until": until, "seconds_left": max(int(left), 1)}


def _next_or_queue(request: HttpRequest, *, skip: RenderJob | None = None) -> HttpResponse:
    """Claim the next job matching the queue's filters and open it; the queue when empty."""
    filters = _filters(request)
    jobs = [item.job for item in selectors.queue(**filters).items]
    job = services.claim_next(by=request.user, jobs=jobs, skip=skip)
    if job is None:
        messages.info(request, "The queue is empty: nothing left to review.")
        return redirect(_queue_url(request))
    url = reverse("moderation:review", args=[job.public_id])
    query = request.POST.get("filters") or ""
    return redirect(url + (f"?{query}" if query else ""))


@permission_required(PERM)
@require_GET
@vary_on_headers("HX-Request")
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    data = _filters(request)
    context = {"form": form, "queue": selectors.queue(**data), "filters": request.GET.urlencode()}
    if request.htmx:
        return render(request, "moderation/_queue_refresh.html", context)
    return render(request, "moderation/queue.html", {**context, "undo_offer": _undo_offer(request)})


@permission_required(PERM)
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject the selected jobs with one reason; each needs its claim (taken now
    when free), so jobs another moderator holds are left and said so."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_queue_url(request))
    data = form.cleaned_data
    jobs = RenderJob.objects.filter(public_id__in=data["job"]).select_related("template", "tier")
    done, left = services.moderation_bulk(
        jobs=list(jobs), by=request.user, action=data["action"], reason=data["reason"]
    )
    verb = "Approved" if data["action"] == "approve" else "Rejected"
    _offer_undo(request, done, f"{verb} {len(done)} render{'s' if len(done) != 1 else ''}")
    for job, why in left:
        messages.error(request, f"Not decided: {', '.join(job.texts.values()) or job.public_id}: {why}")
    return redirect(_queue_url(request))


@permission_required(PERM)
@require_POST
def undo_decisions(request: HttpRequest) -> HttpResponse:
    """Undo the approval or rejection the undo bar names (the server checks the window)."""
    request.session.pop(UNDO_SESSION_KEY, None)
    form = UndoForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing to undo.")
        return redirect(_queue_url(request))
    decisions = list(ModerationDecision.objects.filter(pk__in=form.decision_ids).select_related("job"))
    done, left = undo.moderation_undo_many(decisions=decisions, by=request.user)
    if done:
        labels = ", ".join(undo.job_label(o.job) for o in done)
        messages.success(request, f"Undone: {labels} {'is' if len(done) == 1 else 'are'} back in the queue.")
    for outcome in done:
        if outcome.not_undone:
            messages.warning(request, outcome.not_undone)
    for _decision, why in left:
        messages.error(request, why)
    return redirect(_queue_url(request))


@permission_required(PERM)
@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    form = ClaimNextForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("skip must be the id of a render.", content_type="text/plain")
    skip = form.cleaned_data["skip"]
    return _next_or_queue(request, skip=_job(skip) if skip else None)


def _review_page(
    request: HttpRequest,
    job: RenderJob,
    *,
    rerender_form: RerenderForm | None = None,
    approve_form: ApproveForm | None = None,
    reject_form: RejectForm | None = None,
) -> HttpResponse:
    context = selectors.review_context(job)
    claim = context["claim"]
    context.update(
        {
            "job": job,
            "mine": claim is not None and claim.moderator_id == request.user.pk,
            "open": job.status == JobStatus.NEEDS_REVIEW,
            "approve_form": approve_form or ApproveForm(),
            "reject_form": reject_form or RejectForm(),
            "rerender_form": rerender_form or RerenderForm(job=job),
            "filters": request.POST.get("filters", "") if request.method == "POST" else request.GET.urlencode(),
            "undo_offer": _undo_offer(request),
        }
    )
    # A form sent back with errors is a 400, so scripts see their input was refused.
    invalid = any(f is not None and f.is_bound and f.errors for f in (rerender_form, approve_form, reject_form))
    return render(request, "moderation/review.html", context, status=400 if invalid else 200)


@permission_required(PERM)
@require_GET
def review(request: HttpRequest, public_id: str) -> HttpResponse:
    return _review_page(request, _job(public_id))


@permission_required(PERM)
@require_POST
def claim(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _job(public_id)
    if not services.claim_take(job=job, by=request.user):
        messages.error(request, "Another moderator is working on this job (or it is no longer in the queue).")
    return redirect(_review_url(request, job))


@permission_required(PERM)
@require_POST
def release(request: HttpRequest, public_id: str) -> HttpResponse:
    services.claim_release(job=_job(public_id), by=request.user)
    return redirect(_queue_url(request))


@permission_required(PERM)
@require_POST
def approve(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _job(public_id)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _review_page(request, job, approve_form=form)
    try:
        decision = services.moderation_approve(job=job, by=request.user, reason=form.cleaned_data["note"])
    except (services.ClaimError, TransitionError) as exc:
        messages.error(request, str(exc))
        return redirect(_review_url(request, job))
    _offer_undo(request, [decision], f"Approved {undo.job_label(job)}")
    return _next_or_queue(request)


@permission_required(PERM)
@require_POST
def reject(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _job(public_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _review_page(request, job, reject_form=form)
    try:
        decision = services.moderation_reject(job=job, by=request.user, reason=form.cleaned_data["reason"])
    except (services.ClaimError, TransitionError) as exc:
        messages.error(request, str(exc))
        return redirect(_review_url(request, job))
    _offer_undo(request, [decision], f"Rejected {undo.job_label(job)}")
    return _next_or_queue(request)


@permission_required(PERM)
@require_POST
def rerender(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _job(public_id)
    form = RerenderForm(request.POST, job=job)
    if form.is_valid():
        data = form.cleaned_data
        try:
            attempt = services.moderation_rerender(
                job=job,
                by=request.user,
                texts=form.texts(),
                step=data["step"],
                engine=data["engine"],
                guidance=data["guidance"] or 0,
                seed=data["seed"],
            )
        except (services.ClaimError, TransitionError, BudgetError) as exc:
            messages.error(request, str(exc))
            return redirect(_review_url(request, job))
        except SubmissionError as exc:
            for field, message in exc.errors.items():
                form.add_error(f"text_{field}" if f"text_{field}" in form.fields else None, message)
        else:
            messages.success(request, f"Re-render queued (attempt {attempt.number}, {attempt.step}).")
            return _next_or_queue(request)
    # Show the errors on the form itself, with the moderator's edits still in it.
    return _review_page(request, job, rerender_form=form)
