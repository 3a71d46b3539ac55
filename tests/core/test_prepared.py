"""Prepared statements (apps.core.prepared): prepared once per database connection, used
across transactions that roll back, and prepared again on a new connection."""

import pytest
from django.db import connection, transaction

from apps.core import prepared
from apps.core.prepared import execute_prepared, numbered


def test_numbered_turns_driver_placeholders_into_postgresql_parameters():
    assert numbered("SELECT %s + %s WHERE x = %s") == "SELECT $1 + $2 WHERE x = $3"


def _add(a: int, b: int) -> int:
    with connection.cursor() as cursor:
        execute_prepared(cursor, name="test_prepared_add", sql="SELECT %s::int + %s::int", params=[a, b])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_prepared_statement_outlives_a_rolled_back_transaction_and_a_reconnect():
    with transaction.atomic():
        assert _add(1, 2) == 3  # prepared here, inside a transaction …
        transaction.set_rollback(True)
    assert _add(2, 3) == 5  # … which rolled back: the statement is still there

    connection.close()
    assert _add(3, 4) == 7  # a new connection: prepared again
    assert len(prepared._prepared) >= 1
