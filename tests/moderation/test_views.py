import pytest
from django.urls import reverse

from apps.catalog.models import Template
from apps.moderation import services
from apps.moderation.models import JobClaim
from apps.renders.models import JobStatus
from tests.factories import UserFactory
from tests.moderation.helpers import review_job

# The queue page costs a fixed number of queries, whatever the queue's length: 9, and 2 for
# the stuck-work banner every page shows (live workers, attempts in progress; cached 3 s).
QUEUE_QUERIES = 11


@pytest.fixture
def no_stranded_work(settings):  # type: ignore[no-untyped-def]
    """The banner asks for attempts in progress only when no queue holds stranded work: empty
    the broker's queues so the count does not depend on what earlier tests left there."""
    import redis

    if settings.CELERY_BROKER_URL.startswith("redis"):
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        names = [k for k in client.keys("*") if not k.startswith((b"_kombu", b"unacked"))]
        if names:
            client.delete(*names)


@pytest.fixture
def job(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return review_job(editor=editor, captured=django_capture_on_commit_callbacks)


def test_queue_requires_the_moderator_role(client, editor):
    client.force_login(editor)

    assert client.get(reverse("moderation:queue")).status_code == 403


def test_queue_lists_jobs_with_counts(client, job, moderator, django_assert_num_queries, no_stranded_work):
    client.force_login(moderator)

    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("moderation:queue"))

    body = response.content.decode()
    assert response.status_code == 200
    assert str(job.public_id) in body
    assert "Editorial cover: <b>1</b>" in body
    assert "Wrong text: <b>1</b>" in body
    assert "Always misspells (simulation): <b>1</b>" in body


def test_queue_queries_do_not_grow_with_the_queue(
    client, demo, editor, moderator, django_capture_on_commit_callbacks, django_assert_num_queries, no_stranded_work
):
    for seed, title in enumerate(["Spring Sale", "Night Market", "Quiet Coast"]):
        review_job(editor=editor, captured=django_capture_on_commit_callbacks, title=title, seed=seed)
    client.force_login(moderator)

    with django_assert_num_queries(QUEUE_QUERIES):
        client.get(reverse("moderation:queue"))


def test_queue_filter_by_reason_and_htmx_partial(client, job, moderator):
    client.force_login(moderator)

    response = client.get(reverse("moderation:queue"), {"reason": "palette"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="queue-list"')
    assert 'hx-get="/moderation/?reason=palette" hx-trigger="every 10s"' in body
    assert str(job.public_id) not in body
    assert "Nothing waiting for review." in body


def test_claim_next_opens_the_review_page(client, job, moderator):
    client.force_login(moderator)

    response = client.post(reverse("moderation:claim-next"))

    assert response.status_code == 302
    assert response["Location"] == reverse("moderation:review", args=[job.public_id])
    assert JobClaim.objects.get(job=job).moderator == moderator


def test_review_page_shows_overlay_diff_checks_and_actions(client, job, moderator):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    body = client.get(reverse("moderation:review", args=[job.public_id])).content.decode()

    assert '<svg id="ocr-overlay"' in body
    assert 'class="word word-bad"' in body  # the misspelled word, drawn in the hallucination colour
    assert 'class="word word-ok"' in body
    assert "<del class=" in body or "<ins class=" in body  # character-level diff
    assert 'id="checks"' in body and "text:title" in body
    assert 'id="approve-button"' in body and 'id="reject-form"' in body and 'id="rerender-form"' in body
    assert "js/moderation.js" in body
    assert " style=" not in body and "<script>" not in body  # CSP: no inline styles or scripts


def test_review_page_shows_the_gates_evidence_in_plain_words(client, job, moderator):
    from apps.verification.gate import verify_image
    from tests.verification.images import card

    price = verify_image(
        image=card([("SALE $9.99", (70, 300))], font_size=64), expected={"title": "SALE €9.99"}, regions={}
    )
    look_alike = verify_image(
        image=card([("Wi1d Garden", (70, 300))], font_size=72), expected={"title": "Wild Garden"}, regions={}
    )
    unread = verify_image(image=card([], font_size=64), expected={"title": "Harbour Lights"}, regions={})
    checks = [
        c for report in (price, look_alike, unread) for c in report.checks_as_dicts() if c["name"] == "text:title"
    ]
    attempt = job.attempts.exclude(verification=None).order_by("-number").first()
    attempt.verification.checks = checks
    attempt.verification.save(update_fields=["checks"])
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    body = client.get(reverse("moderation:review", args=[job.public_id])).content.decode()

    assert "Price reads $9.99, expected €9.99 (currency)" in body
    assert "Second opinion on “wild” (first read “wi1d”, look-alike letters):" in body
    assert "tesseract read “" in body
    assert "Could not read this text" in body


def test_review_page_of_a_job_claimed_by_someone_else_has_no_actions(client, job, moderator):
    other = UserFactory(role="moderator")
    services.claim_take(job=job, by=other)
    client.force_login(moderator)

    body = client.get(reverse("moderation:review", args=[job.public_id])).content.decode()

    assert f"{other.username} is working on this job" in body
    assert 'id="approve-button"' not in body


def test_approve_post_redirects_to_the_queue_when_empty(client, job, moderator):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    response = client.post(reverse("moderation:approve", args=[job.public_id]))

    job.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("moderation:queue")
    assert job.status == JobStatus.DELIVERED


def test_reject_without_a_reason_changes_nothing(client, job, moderator):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    client.post(reverse("moderation:reject", args=[job.public_id]), {"reason": ""})

    job.refresh_from_db()
    assert job.status == JobStatus.NEEDS_REVIEW


def test_rerender_post_queues_a_composite_attempt(client, job, moderator, django_capture_on_commit_callbacks):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            reverse("moderation:rerender", args=[job.public_id]),
            {"step": "composite", "guidance": "0", "seed": "", "text_title": "Harbour Lights Tonight"},
        )

    job.refresh_from_db()
    assert job.status == JobStatus.RENDERING
    assert job.attempts.last().step == "composite"


def test_job_page_shows_the_verification_evidence(client, job, editor):
    client.force_login(editor)

    body = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()

    assert 'id="verification-evidence"' in body
    assert 'id="checks"' in body and "text:title" in body


def test_release_gives_the_job_back_to_the_queue(client, job, moderator):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    response = client.post(reverse("moderation:release", args=[job.public_id]))

    assert response["Location"] == reverse("moderation:queue")
    assert JobClaim.objects.get(job=job).moderator is None
    assert job.moderation_decisions.first().action == "release"


def test_queue_filters_by_template_and_engine(client, job, moderator):
    client.force_login(moderator)

    by_engine = client.get(reverse("moderation:queue"), {"engine": "typo-always"}).content.decode()
    other_engine = client.get(reverse("moderation:queue"), {"engine": "builtin-ultra"}).content.decode()
    other_template = client.get(
        reverse("moderation:queue"), {"template": Template.objects.get(slug="product-thumbnail").pk}
    ).content.decode()

    assert str(job.public_id) in by_engine
    assert str(job.public_id) not in other_engine
    assert str(job.public_id) not in other_template


def test_claim_next_stays_within_the_filtered_queue(client, job, moderator):
    client.force_login(moderator)

    response = client.post(reverse("moderation:claim-next"), {"filters": "engine=builtin-ultra"})

    assert response["Location"] == reverse("moderation:queue") + "?engine=builtin-ultra"
    assert not JobClaim.objects.filter(job=job, moderator=moderator).exists()


def test_rerender_with_bad_input_shows_the_errors_on_the_form_and_keeps_the_input(client, job, moderator):
    """It used to redirect: the panel closed, the edits were gone and the errors came back as
    messages with raw field names ("text_title: …")."""
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)
    attempts_before = job.attempts.count()

    response = client.post(
        reverse("moderation:rerender", args=[job.public_id]),
        {"step": "guidance", "guidance": "9", "seed": "77", "text_title": "", "filters": "reason=text"},
    )

    body = response.content.decode()
    assert response.status_code == 400  # the input was refused; the page shows why
    assert job.attempts.count() == attempts_before
    assert '<details class="rerender" open>' in body
    assert "Ensure this value is less than or equal to 3." in body
    assert 'name="seed" value="77"' in body
    assert 'name="filters" value="reason=text"' in body
    assert "text_title:" not in body


def test_reject_without_a_reason_returns_to_the_review_within_the_filtered_queue(client, job, moderator):
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)

    response = client.post(reverse("moderation:reject", args=[job.public_id]), {"reason": "", "filters": "reason=text"})

    body = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in body
    assert 'name="filters" value="reason=text"' in body


def test_queue_and_review_label_simulations_and_filter_only_engines_that_can_appear(client, job, moderator):
    """The filter listed disabled and retired engines, and built-in engines showed no "(simulation)"."""
    import datetime

    from apps.engines.models import Engine

    Engine.objects.filter(slug="typo-always").update(enabled=False)  # disabled, but a queued job used it
    retired = Engine.objects.get(slug="builtin-ultra")
    Engine.objects.filter(pk=retired.pk).update(retired_on=datetime.date(2020, 1, 1))
    client.force_login(moderator)

    page = client.get(reverse("moderation:queue")).content.decode()
    review = client.get(reverse("moderation:review", args=[job.public_id])).content.decode()

    options = page.split('name="engine"')[1].split("</select>")[0]
    assert "Always misspells (simulation)</option>" in options  # in the queue though disabled
    assert 'value="builtin-ultra"' not in options  # retired, in no queued job
    assert "Always misspells (simulation)</td>" in page
    assert "Always misspells (simulation)" in review
    assert "Always misspells</td>" not in review
