"""Fault table rows 1–2: PostgreSQL and Redis restart under load, on private instances.

The script starts its own redis-server and PostgreSQL cluster on free ports (never the
shared services of `make test`), the Procfile's workers and beat once, and restarts the
database, then the broker, in the middle of the submissions. No worker is restarted. After
each fault `manage.py budget reconcile` must find the ledger equal to the attempts.
Rerun by hand: `.venv/bin/python -m scripts.fault_table --faults postgres,redis`.
"""

import pytest

from scripts.fault_table import WORKERS, fault_table

# The suite's autouse fixtures set up the test database; this test uses only its private one.
pytestmark = pytest.mark.django_db


def test_fault_table_database_and_broker_restarts_settle_every_job_without_a_worker_restart():
    rows = fault_table(faults=["postgres", "redis"], jobs=16, rate=2.0, settle_s=150.0)

    for row in rows:
        assert (row["fault"], row["stuck"], row["settled"]) == (row["fault"], 0, row["jobs"]), row
        assert row["workers_alive"] == dict.fromkeys(WORKERS, True), row
        assert row["reconcile"] == "clean", row
    print(
        "\n"
        + "\n".join(f"{r['fault']}: jobs={r['jobs']} settled={r['settled']} reconcile={r['reconcile']}" for r in rows)
    )
