"""apps.core.hotsql writes and reads what the ORM would, on the suite's database (PostgreSQL)
and on SQLite through the embedded-default tests: JSON, decimals, dates, auto_now_add."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.hotsql import ModelColumns, row_get, rows_insert, rows_update
from apps.core.models import SweepRun
from apps.policy.models import BudgetLedger, CostOutcome, Tier

pytestmark = pytest.mark.django_db


def _fields(obj: object, names: list[str]) -> dict[str, object]:
    return {name: getattr(obj, name) for name in names}


def test_rows_insert_writes_what_the_orm_reads_back():
    started = timezone.now() - timedelta(minutes=3)
    ours = [
        SweepRun(task="t", started_at=started, duration_ms=1.5, result={"requeued": 2, "nested": [1, "a"]}),
        SweepRun(task="u", started_at=started, duration_ms=0.0),  # the JSON default
    ]
    rows_insert(ours)
    assert all(run.pk and not run._state.adding for run in ours)
    names = ["task", "started_at", "duration_ms", "result", "recovered", "error"]
    for run in ours:
        assert _fields(SweepRun.objects.get(pk=run.pk), names) == _fields(run, names)
    assert SweepRun.objects.get(pk=ours[1].pk).result == {}


def test_rows_insert_fills_auto_now_add_as_save_does():
    before = timezone.now()
    outcome = CostOutcome(template="cover", engine="turbo", attempts=2, delivered=True, ref="j1")
    rows_insert([outcome])
    stored = CostOutcome.objects.get(pk=outcome.pk)
    assert stored.created_at >= before and stored.created_at == outcome.created_at


def test_row_get_and_model_columns_convert_as_the_orm_does(demo):
    tier = Tier.objects.get(slug="production")
    ledger = BudgetLedger.objects.create(tier=tier, day=date(2026, 11, 30), limit_usd=Decimal("12.5"))
    got = row_get(BudgetLedger, tier=tier.pk, team="", day=date(2026, 11, 30))
    expected = BudgetLedger.objects.get(pk=ledger.pk)
    names = [f.attname for f in BudgetLedger._meta.concrete_fields]
    assert got is not None and _fields(got, names) == _fields(expected, names)
    assert row_get(BudgetLedger, tier=tier.pk, team="", day=date(2026, 12, 1)) is None

    columns = ModelColumns(BudgetLedger, "l")
    table = connection.ops.quote_name(BudgetLedger._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns.sql} FROM {table} l WHERE l.id = %s", [ledger.pk])
        loaded = columns.load(cursor.fetchone())
    assert loaded is not None and _fields(loaded, names) == _fields(expected, names)
    assert isinstance(loaded.limit_usd, Decimal)


def test_rows_update_is_conditional():
    run = SweepRun.objects.create(task="t", started_at=timezone.now(), duration_ms=1)
    assert rows_update(SweepRun, values={"result": {"lost": 1}, "recovered": 1}, where={"id": run.pk, "task": "x"}) == 0
    assert rows_update(SweepRun, values={"result": {"lost": 1}, "recovered": 1}, where={"id": run.pk, "task": "t"}) == 1
    run.refresh_from_db()
    assert (run.result, run.recovered) == ({"lost": 1}, 1)
