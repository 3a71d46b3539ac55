"""Every task has its own soft and hard time limit, and they fit the broker and engine bounds."""

import pytest
from django.conf import settings

from apps.engines.models import Engine
from renderhub.celery import app

TASKS = ["renders.run_attempt", "renders.verify_attempt", "renders.sweep_stuck", "renders.release_deferred"]


@pytest.mark.parametrize("name", [*TASKS, "renders.hedge_preview"])
def test_task_has_a_soft_limit_below_its_hard_limit_below_redelivery(name):
    app.loader.import_default_modules()
    task = app.tasks[name]

    assert task.soft_time_limit is not None and task.time_limit is not None
    assert 0 < task.soft_time_limit < task.time_limit
    assert task.time_limit < settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 900)


def test_periodic_tasks_are_cut_short_well_before_they_pile_up():
    """A sweep may overlap the next (5 s period; its updates are conditional), but never for long."""
    app.loader.import_default_modules()
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}

    for name, every_s in schedule.items():
        assert app.tasks[name].time_limit <= max(every_s, 30), name


def test_render_task_soft_limit_leaves_room_for_the_engine_deadline():
    """Thread pools enforce no time limit: the engine call's own deadline must end first."""
    app.loader.import_default_modules()
    default_deadline = Engine._meta.get_field("deadline_s").default

    assert app.tasks["renders.run_attempt"].soft_time_limit > default_deadline
    assert app.tasks["renders.verify_attempt"].time_limit < app.tasks["renders.run_attempt"].time_limit
