"""The queues and workers page, the banner every page shows when work is stranded, and the
records they read (heartbeats, sweep runs)."""

from django.urls import reverse
from django.utils import timezone

from apps.core import heartbeats, sweep_runs, workers
from apps.core.models import SweepRun, WorkerHeartbeat
from apps.renders import tasks
from tests.metrics.helpers import heartbeat, publish


def test_queues_page_htmx_shows_depth_age_workers_and_sweeps(client, admin_user, own_queues):
    publish(own_queues["verify"], 2)
    heartbeat(
        "celery@embedded",
        queues=[own_queues["preview"], own_queues["final"]],
        pool="thread",
        concurrency=8,
        restarts=1,
        current_tasks=[{"id": "t1", "name": "renders.run_attempt", "started_at": timezone.now().isoformat()}],
    )
    heartbeat("celery@embedded", queues=[own_queues["preview"]], age_s=900, pid=99)  # died without a shutdown
    SweepRun.objects.create(
        task="renders.sweep_stuck", started_at=timezone.now(), duration_ms=12, result={"requeued": 2}, recovered=2
    )
    client.force_login(admin_user)

    response = client.get(reverse("metrics:queues"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body  # the partial alone
    assert response["Vary"] == "HX-Request, Cookie"
    verify_row = body.split(f'id="queue-{own_queues["verify"].replace(".", "")}"')[1].split("</tr>")[0]
    assert "<td>2</td>" in verify_row and "no live worker" in verify_row
    assert "renders.run_attempt" in body
    assert '<td class="state-live">live</td>' in body
    assert "<td>1</td>\n        <td>1</td>" in body  # one crash, one restart
    assert "requeued 2" in body


def test_queues_page_is_for_admins(client, moderator):
    client.force_login(moderator)

    assert client.get(reverse("metrics:queues")).status_code == 403


def test_worker_states_count_crashes_and_liveness():
    heartbeat("celery@a", queues=["q1"], age_s=2)
    heartbeat("celery@a", queues=["q1"], age_s=3600, pid=2)  # heartbeats stopped: crash
    heartbeat("celery@a", queues=["q1"], age_s=7200, pid=3, stopped=True)  # clean stop
    heartbeat("celery@b", queues=["q2"], age_s=600, pid=4)  # gone
    WorkerHeartbeat.objects.filter(pid=4).update(exit_ok=False, stopped_at=timezone.now())

    states = {s.node: s for s in workers.worker_states()}

    assert (states["celery@a"].live, states["celery@a"].crashes, states["celery@a"].processes) == (True, 1, 1)
    assert (states["celery@b"].live, states["celery@b"].crashes) == (False, 1)
    live = workers.live_queues()  # real workers of other tests may be live too
    assert "q1" in live and "q2" not in live


def test_banner_on_every_page_when_a_queue_has_work_and_no_live_worker(client, editor, own_queues):
    publish(own_queues["preview"], 3)
    heartbeat("celery@dead", queues=[own_queues["preview"]], age_s=900)
    client.force_login(editor)

    body = client.get(reverse("renders:job-new")).content.decode()

    assert "Renders are stuck:" in body
    assert f"No live worker consumes {own_queues['preview']} (3 waiting, oldest" in body
    assert "Queues and workers</a>" not in body.split('id="worker-alert"')[1]  # the link is for admins


def test_banner_absent_while_a_live_worker_consumes_the_queue(client, editor, own_queues):
    publish(own_queues["preview"])
    heartbeat("celery@live", queues=[own_queues["preview"]])
    client.force_login(editor)

    body = client.get(reverse("renders:job-new")).content.decode()

    assert "Renders are stuck" not in body


def test_worker_alert_partial_is_what_pages_poll(client, admin_user, own_queues):
    publish(own_queues["final"])
    client.force_login(admin_user)

    response = client.get(reverse("metrics:worker-alert"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.startswith('<div id="worker-alert"')
    assert own_queues["final"] in body
    assert 'href="/metrics/queues/"' in body


def test_sweep_task_records_each_run(demo):
    result = tasks.sweep_stuck()

    [run] = sweep_runs.sweep_runs_latest(task="renders.sweep_stuck")
    assert run.result == result == {"requeued": 0, "lost": 0, "reverified": 0}
    assert run.recovered == 0
    assert sweep_runs.sweep_runs_recovering(task="renders.sweep_stuck") == []


def test_banner_on_every_page_when_a_worker_crashed_and_a_new_one_runs(client, editor, own_queues):
    """run_embedded restarts a dead worker at once, so nothing is stranded; the renders the dead
    one held still wait for the sweeper, and the page must say so (issue 10, point 1)."""
    heartbeat("celery@embedded", queues=[own_queues["preview"]], age_s=150, pid=41)  # stale, no shutdown
    heartbeat("celery@embedded", queues=[own_queues["preview"]], age_s=1, pid=42, restarts=1)
    client.force_login(editor)

    body = client.get(reverse("renders:job-new")).content.decode()

    alert = body.split('id="worker-alert"')[1].split("</div>")[0]
    assert '<p class="banner-warn" role="alert"><strong>A worker crashed:</strong> celery@embedded (pid 41)' in alert
    assert "a new one is running. Renders it was running continue when the sweeper recovers them" in alert
    assert "Renders are stuck" not in alert


def test_banner_forgets_a_crash_once_the_sweeper_has_had_time(client, editor, own_queues):
    heartbeat("celery@embedded", queues=[own_queues["preview"]], age_s=900, pid=41)
    heartbeat("celery@embedded", queues=[own_queues["preview"]], age_s=1, pid=42)
    client.force_login(editor)

    body = client.get(reverse("renders:job-new")).content.decode()

    assert 'role="alert"' not in body.split('id="worker-alert"')[1].split("</div>")[0]


def test_heartbeat_mark_crashed_records_a_supervisor_seen_exit_at_once():
    """run_embedded sees its worker exit within 2 s; the row shows the crash without waiting
    for the heartbeat to go stale (RENDERHUB_HEARTBEAT_DEAD_SECONDS)."""
    since = timezone.now() - timezone.timedelta(minutes=10)
    heartbeat("celery@x", queues=["q"], age_s=1, pid=51)
    heartbeat("celery@x", queues=["q"], age_s=60, pid=51, stopped=True)  # an earlier clean stop, same pid

    marked = heartbeats.heartbeat_mark_crashed(pid=51, started_after=since)

    live, crashes = workers.recent_crashes(within_s=120)
    [crash] = [c for c in crashes if c.node == "celery@x"]
    assert marked == 1
    assert (crash.pid, crash.replaced) == (51, False)
    assert "q" not in live  # its only live row is marked stopped
    assert WorkerHeartbeat.objects.filter(pid=51, exit_ok=True).count() == 1
