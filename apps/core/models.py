"""What the queues and workers page reads: worker heartbeats and the sweeper's runs.

Both are written by worker processes through the database, so they work on every broker
(the embedded filesystem one included) and with any number of web and worker processes.
"""

from django.conf import settings
from django.db import models


class WorkerHeartbeat(models.Model):
    """One Celery worker process, written every few seconds by its heartbeat thread
    (apps/core/heartbeats.py). A row whose heartbeats stopped without a clean shutdown is a
    crash; a prefork pool has one row for the main process and one per child."""

    node = models.CharField(max_length=200)  # Celery node name, e.g. "celery@host"
    pid = models.PositiveIntegerField()
    role = models.CharField(max_length=10, default="main")  # main | child
    queues = models.JSONField(default=list)  # queue names the node consumes
    pool = models.CharField(max_length=30, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=0)
    # How many times its supervisor (run_embedded) had to start the worker again before this
    # process: each time the previous one had exited on its own.
    restarts = models.PositiveIntegerField(default=0)
    current_tasks = models.JSONField(default=list)  # [{"id", "name", "started_at"}]
    tasks_started = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    exit_ok = models.BooleanField(null=True)  # None while running; False: stopped on an error

    class Meta:
        indexes = [models.Index(fields=["node", "-last_seen_at"]), models.Index(fields=["last_seen_at"])]
        permissions = [("view_operations", "Can see queues and workers")]

    def __str__(self) -> str:
        return f"{self.node} pid {self.pid} ({self.role})"


class SweepRun(models.Model):
    """One run of a periodic recovery task (the sweeper) and what it did."""

    task = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    result = models.JSONField(default=dict)  # e.g. {"requeued": 0, "lost": 1, "reverified": 0}
    recovered = models.PositiveIntegerField(default=0)  # the sum of the result's counts
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["task", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.task} at {self.started_at:%H:%M:%S}"


class ConfigChange(models.Model):
    """Audit log of configuration edits made below the policy app (engines, templates): who,
    when, before and after (JSON snapshots). The policy audit page shows these beside its own
    PolicyChange rows; apps above core write them through `apps.core.audit`."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    kind = models.CharField(max_length=30)  # engine | template
    object_slug = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.kind} {self.object_slug}"
