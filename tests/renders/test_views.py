import pytest
from django.urls import reverse

from apps.catalog.models import Template
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.state import job_transition
from apps.renders.pipeline.submit import job_submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        return job_submit(
            submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Pages"}
        )


def test_pages_redirect_anonymous_users_to_login(client, job):
    for url in [
        reverse("renders:job-new"),
        reverse("renders:job-list"),
        reverse("renders:job-detail", args=[job.public_id]),
        reverse("renders:attempt-image", args=[job.public_id, 1]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")


def test_job_new_shows_the_slot_fields_of_the_first_template(client, demo, editor):
    client.force_login(editor)

    response = client.get(reverse("renders:job-new"))

    assert response.status_code == 200
    assert b'name="text_title"' in response.content


def test_template_fields_swaps_in_the_chosen_templates_slots(client, demo, editor):
    client.force_login(editor)
    thumb = Template.objects.get(slug="product-thumbnail")

    response = client.get(reverse("renders:template-fields"), {"template": thumb.pk}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<fieldset id="slot-fields">')
    assert b'name="text_overlay"' in response.content
    assert b'name="text_title"' not in response.content


def test_job_new_post_creates_a_job_and_redirects(client, demo, editor, django_capture_on_commit_callbacks):
    client.force_login(editor)
    cover = Template.objects.get(slug="editorial-cover")

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": "Hello", "seed": "5"})

    job = RenderJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("renders:job-detail", args=[job.public_id])
    assert (job.seed, job.texts) == (5, {"title": "Hello"})


def test_job_new_post_with_missing_text_shows_the_error_and_saves_nothing(client, demo, editor):
    client.force_login(editor)
    cover = Template.objects.get(slug="editorial-cover")

    response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": ""})

    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert RenderJob.objects.count() == 0


def test_moderator_without_submit_permission_is_forbidden_on_new(client, demo):
    viewer = UserFactory()
    client.force_login(viewer)

    assert client.get(reverse("renders:job-new")).status_code == 403


def test_job_detail_is_404_for_another_editor(client, job):
    client.force_login(UserFactory(role="editor"))

    assert client.get(reverse("renders:job-detail", args=[job.public_id])).status_code == 404
    assert client.get(reverse("renders:attempt-image", args=[job.public_id, 1])).status_code == 404


def test_job_detail_is_visible_to_a_moderator(client, job, moderator):
    client.force_login(moderator)

    assert client.get(reverse("renders:job-detail", args=[job.public_id])).status_code == 200


def test_job_detail_htmx_returns_the_polling_partial_while_running(client, job, editor):
    client.force_login(editor)

    response = client.get(reverse("renders:job-detail", args=[job.public_id]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="job-status"')
    assert 'hx-trigger="every 400ms"' in body
    assert "HX-Request" in response["Vary"]


def test_job_detail_htmx_stops_polling_once_resting(client, job, editor):
    job_transition(job, to=JobStatus.FAILED, reason="stop")
    client.force_login(editor)

    response = client.get(reverse("renders:job-detail", args=[job.public_id]), HTTP_HX_REQUEST="true")

    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


def test_job_detail_without_js_refreshes_itself_while_running(client, job, editor):
    """No htmx polling without JavaScript: a <noscript> refresh brings the preview in."""
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])

    running = client.get(url).content.decode()
    job_transition(job, to=JobStatus.FAILED, reason="stop")
    resting = client.get(url).content.decode()

    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in running
    assert 'http-equiv="refresh"' not in resting


def test_job_detail_shows_no_cost_for_an_attempt_not_yet_rendered(client, job, editor):
    """A queued or rendering attempt has billed nothing yet, and may still bill: "–", not "$0.00"."""
    from apps.renders.models import AttemptStatus

    job.attempts.update(status=AttemptStatus.RUNNING)
    client.force_login(editor)

    body = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()

    row = body.split('<table class="attempts">')[1].split("</tr>")[1]
    assert "Rendering" in row
    assert "$0.00" not in row


def test_job_detail_says_how_long_a_released_job_waited_deferred(client, job, editor):
    """Admission reads "admitted" once a deferred job is released; the wait, part of its latency,
    must still show."""
    from datetime import timedelta

    from apps.renders.models import JobEvent

    start = job.created_at
    for from_status, to_status, reason, after_s in [
        ("queued", "deferred", "The Preview queue is 3 deep; deferred until it drains.", 0),
        ("deferred", "queued", "Admitted to Production, estimated $0.10.", 24),
    ]:
        event = JobEvent.objects.create(job=job, from_status=from_status, to_status=to_status, reason=reason)
        JobEvent.objects.filter(pk=event.pk).update(created_at=start + timedelta(seconds=after_s))
    client.force_login(editor)

    body = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()

    assert "First deferred for 24.00 s: The Preview queue is 3 deep; deferred until it drains." in body


def test_job_list_shows_only_own_jobs_in_fixed_queries(
    client, demo, editor, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    cover = Template.objects.get(slug="editorial-cover")
    other = UserFactory(role="editor")
    with django_capture_on_commit_callbacks(execute=False):
        for i in range(12):
            job_submit(submitted_by=editor, template=cover, texts={"title": f"Mine {i}"})
        job_submit(submitted_by=other, template=cover, texts={"title": "Theirs"})
    client.force_login(editor)

    # Session, user, 2 permission reads, the count, the banner's 2 (heartbeats, live attempts),
    # the filter's templates and tiers, the jobs, their attempts: 11, whatever the number of jobs.
    with django_assert_max_num_queries(11):
        response = client.get(reverse("renders:job-list"))

    assert response.status_code == 200
    assert response.content.count(b"Mine ") == 12
    assert b"Theirs" not in response.content


def test_job_list_filters_by_status(client, job, editor):
    client.force_login(editor)

    assert b"Pages" in client.get(reverse("renders:job-list"), {"status": "previewing"}).content
    assert b"Pages" not in client.get(reverse("renders:job-list"), {"status": "delivered"}).content


def test_request_final_moves_a_previewed_job_to_rendering(client, demo, editor, django_capture_on_commit_callbacks):
    thumb = Template.objects.get(slug="product-thumbnail")
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=thumb, texts={"overlay": "SALE"})
    job_transition(job, to=JobStatus.PREVIEW_READY)
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("renders:job-final", args=[job.public_id]))

    job.refresh_from_db()
    assert response.status_code == 302
    assert job.status == JobStatus.RENDERING
    assert job.attempts.filter(stage="final").count() == 1


def test_job_new_post_with_a_retired_template_shows_why_and_the_active_fields(client, demo, editor):
    """A template deactivated while the editor was typing: say so and offer the active fields."""
    client.force_login(editor)
    cover = Template.objects.get(slug="editorial-cover")
    Template.objects.filter(pk=cover.pk).update(is_active=False)

    response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": "Gone"})

    assert response.status_code == 200
    assert RenderJob.objects.count() == 0
    assert "Select a valid choice" in response.content.decode()
    assert b'name="text_overlay"' in response.content  # the first active template's fields


def test_job_list_text_filter_says_what_it_searches(client, demo, editor):
    """The filter row shows no labels; the text box was an empty, unexplained input."""
    client.force_login(editor)

    body = client.get(reverse("renders:job-list")).content.decode()

    assert 'placeholder="Text contains"' in body


def test_job_list_links_moderators_to_everyones_renders(client, job, moderator):
    client.force_login(moderator)

    mine = client.get(reverse("renders:job-list"))
    everyone = client.get(reverse("renders:job-list"), {"all": "1"})

    assert b'id="all-renders"' in mine.content
    assert b"Pages" not in mine.content
    assert b"Pages" in everyone.content
    assert b"All renders" in everyone.content


def test_job_list_ignores_all_for_editors(client, job):
    other = UserFactory(role="editor")
    client.force_login(other)

    response = client.get(reverse("renders:job-list"), {"all": "1"})

    assert b'id="all-renders"' not in response.content
    assert b"Pages" not in response.content


def test_job_detail_of_a_job_deferred_by_the_queue_shows_its_estimate_not_zero(
    client, demo, editor, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.renders.pipeline import submit

    deep = {"queue_depth": 100, "throughput_per_s": 2.0}
    monkeypatch.setattr(submit, "admission_inputs", lambda **kw: deep)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Later"}
        )
    client.force_login(editor)

    body = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()

    assert job.status == JobStatus.DEFERRED
    cost = body.split('id="job-cost">')[1].split("</dd>")[0]
    assert "estimated $0.00" not in cost
    assert cost.startswith("estimated $0.10")
