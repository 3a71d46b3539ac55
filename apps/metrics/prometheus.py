"""Prometheus exposition at /metrics, computed from the database at each scrape.

Every figure is read from the job, attempt, heartbeat and sweep rows (and queue depths from the
broker), not from counters in process memory, so any gunicorn process answers the same numbers
whatever process did the work: no multiprocess directory to share, nothing lost on a restart.
A scrape costs about ten aggregate queries and one broker read.

Families (labels in braces):
- renderhub_time_to_preview_seconds{tier,source}: histogram, submission → preview ready
  (jobs with a preview).
- renderhub_time_to_final_seconds{tier,source}: histogram, submission → delivered, for jobs
  delivered without a moderator (a review's wait is a person's time, not the pipeline's).
- renderhub_render_attempts_total{stage,engine,verdict}: finished attempts; verdict is the
  gate's (pass | review | fail), or the attempt's status when it never reached the gate
  (error | cancelled).
- renderhub_cost_usd_total{tier,engine}: what the attempts cost, failed ones and hedges included.
- renderhub_jobs{tier,source,status}: jobs in each status now.
- renderhub_queue_depth{queue}, renderhub_queue_oldest_message_age_seconds{queue}: the broker.
- renderhub_worker_up{worker}, renderhub_worker_heartbeat_age_seconds{worker},
  renderhub_worker_running_tasks{worker}, renderhub_worker_crashes{worker} (last 7 days).
- renderhub_sweep_last_run_timestamp_seconds, renderhub_sweep_last_recovered.

Access: `Authorization: Bearer <METRICS_TOKEN>`, or a peer address in METRICS_ALLOWED_IPS
(addresses or networks; the direct peer, X-Forwarded-For is not trusted).
"""

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from apps.core import queues, sweep_runs, workers
from apps.metrics.queue_health import SWEEP_TASK
from apps.renders.models import ATTEMPT_DONE, JobEvent, JobStatus, RenderAttempt, RenderJob

# Seconds. Preview budgets sit near 0.8–1 s and production finals near 2.2 s (policy tiers).
LATENCY_BUCKETS_S = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class RenderHubCollector:
    """A prometheus_client custom collector (`collect()` yields metric families)."""

    def collect(self) -> Iterator[Metric]:
        jobs = RenderJob.objects.all()
        yield self._latency(
            "renderhub_time_to_preview_seconds",
            "Submission to preview ready, seconds.",
            jobs.filter(preview_ready_at__isnull=False),
            end="preview_ready_at",
        )
        reviewed = JobEvent.objects.filter(job=OuterRef("pk"), to_status=JobStatus.NEEDS_REVIEW)
        yield self._latency(
            "renderhub_time_to_final_seconds",
            "Submission to delivered final, seconds (jobs delivered without a moderator).",
            jobs.filter(status=JobStatus.DELIVERED, finished_at__isnull=False).exclude(Exists(reviewed)),
            end="finished_at",
        )
        yield from self._attempts()
        yield self._jobs()
        yield from self._queues()
        yield from self._workers()
        yield from self._sweeps()

    @staticmethod
    def _latency(name: str, documentation: str, jobs: QuerySet[RenderJob], *, end: str) -> Metric:
        duration = ExpressionWrapper(F(end) - F("created_at"), output_field=DurationField())
        buckets = {
            f"le_{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
            for i, bound in enumerate(LATENCY_BUCKETS_S)
        }
        rows = (
            jobs.annotate(duration=duration)
            .values("tier__slug", "source")
            .annotate(n=Count("pk"), total=Sum("duration"), **buckets)
            .order_by("tier__slug", "source")
        )
        family = HistogramMetricFamily(name, documentation, labels=["tier", "source"])
        for row in rows:
            counts = [(_le(bound), float(row[f"le_{i}"])) for i, bound in enumerate(LATENCY_BUCKETS_S)]
            total: timedelta | None = row["total"]
            family.add_metric(
                [row["tier__slug"], row["source"]],
                buckets=[*counts, ("+Inf", float(row["n"]))],
                sum_value=total.total_seconds() if total else 0.0,
            )
        return family

    @staticmethod
    def _attempts() -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "renderhub_render_attempts", "Finished render attempts.", labels=["stage", "engine", "verdict"]
        )
        rows = (
            RenderAttempt.objects.filter(status__in=list(ATTEMPT_DONE))
            .values("stage", "engine__slug", "verification__verdict", "status")
            .annotate(n=Count("pk"))
        )
        counted: dict[tuple[str, str, str], int] = {}
        for row in rows:
            key = (row["stage"], row["engine__slug"], row["verification__verdict"] or row["status"])
            counted[key] = counted.get(key, 0) + row["n"]
        for key, n in sorted(counted.items()):
            attempts.add_metric(list(key), n)
        yield attempts

        cost = CounterMetricFamily(
            "renderhub_cost_usd", "What render attempts cost, US dollars.", labels=["tier", "engine"]
        )
        rows = (
            RenderAttempt.objects.values("job__tier__slug", "engine__slug")
            .annotate(usd=Sum("cost_usd"))
            .order_by("job__tier__slug", "engine__slug")
        )
        for row in rows:
            cost.add_metric([row["job__tier__slug"], row["engine__slug"]], float(row["usd"] or 0))
        yield cost

    @staticmethod
    def _jobs() -> Metric:
        family = GaugeMetricFamily("renderhub_jobs", "Jobs in each status now.", labels=["tier", "source", "status"])
        rows = RenderJob.objects.values("tier__slug", "source", "status").annotate(n=Count("pk"))
        for row in rows.order_by("tier__slug", "source", "status"):
            family.add_metric([row["tier__slug"], row["source"], row["status"]], row["n"])
        return family

    @staticmethod
    def _queues() -> Iterator[Metric]:
        depth = GaugeMetricFamily("renderhub_queue_depth", "Messages waiting in the broker queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "renderhub_queue_oldest_message_age_seconds", "Age of the oldest waiting message.", labels=["queue"]
        )
        for state in queues.queue_states():
            if state.depth is not None:
                depth.add_metric([state.name], state.depth)
            if state.oldest_age_s is not None:
                age.add_metric([state.name], state.oldest_age_s)
        yield depth
        yield age

    @staticmethod
    def _workers() -> Iterator[Metric]:
        families = {
            "up": GaugeMetricFamily(
                "renderhub_worker_up", "1 while the worker's heartbeat is fresh.", labels=["worker"]
            ),
            "age": GaugeMetricFamily(
                "renderhub_worker_heartbeat_age_seconds",
                "Seconds since the worker's last heartbeat.",
                labels=["worker"],
            ),
            "tasks": GaugeMetricFamily(
                "renderhub_worker_running_tasks", "Tasks the worker is running now.", labels=["worker"]
            ),
            "crashes": GaugeMetricFamily(
                "renderhub_worker_crashes",
                "Worker processes whose heartbeat stopped without a shutdown, or that stopped on an error (7 days).",
                labels=["worker"],
            ),
        }
        for state in workers.worker_states():
            families["up"].add_metric([state.node], 1 if state.live else 0)
            families["age"].add_metric([state.node], state.heartbeat_age_s)
            families["tasks"].add_metric([state.node], len(state.current_tasks))
            families["crashes"].add_metric([state.node], state.crashes)
        yield from families.values()

    @staticmethod
    def _sweeps() -> Iterator[Metric]:
        latest = sweep_runs.sweep_runs_latest(task=SWEEP_TASK, limit=1)
        when = GaugeMetricFamily("renderhub_sweep_last_run_timestamp_seconds", "When the sweeper last ran (Unix time).")
        recovered = GaugeMetricFamily(
            "renderhub_sweep_last_recovered", "Attempts the sweeper's last run recovered.", labels=["kind"]
        )
        if latest:
            when.add_metric([], latest[0].started_at.timestamp())
            for kind, n in sorted(latest[0].result.items()):
                recovered.add_metric([kind], n)
        yield when
        yield recovered


def _le(bound: float) -> str:
    return str(float(bound))


def exposition() -> tuple[bytes, str]:
    """(body, content type) of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RenderHubCollector())  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _peer_allowed(address: str) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if peer in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def access_denied(request: HttpRequest) -> HttpResponse | None:
    """None when the scraper may read /metrics, else the 401/403 to answer."""
    token: str = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    presented = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return None
    if _peer_allowed(request.META.get("REMOTE_ADDR", "")):
        return None
    response: Any
    if token:
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    else:
        response = HttpResponse(
            "Set METRICS_TOKEN or METRICS_ALLOWED_IPS to let a scraper in.\n", status=403, content_type="text/plain"
        )
    return response
