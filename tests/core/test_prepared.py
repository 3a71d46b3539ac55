"""Prepared statements (apps.core.prepared): prepared once per database connection, used
across transactions that roll back, and prepared again on a new connection."""

import pytest
from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    connection,
    connections,
    transaction,
)

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


def _read(name: str) -> str:
    with connection.cursor() as cursor:
        execute_prepared(cursor, name=name, sql="SELECT v FROM test_prepared_migrated WHERE length(v) > %s", params=[0])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_prepared_statement_is_prepared_again_after_a_migration_changes_a_column_it_returns():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_prepared_migrated (v varchar(10))")
        cursor.execute("INSERT INTO test_prepared_migrated VALUES ('a')")
    try:
        assert _read("test_prepared_migrated_read") == "a"
        with connection.cursor() as cursor:  # what a migration's AlterField(max_length=20) sends
            cursor.execute("ALTER TABLE test_prepared_migrated ALTER COLUMN v TYPE varchar(20)")
        assert _read("test_prepared_migrated_read") == "a"  # no transaction open: prepared again at once

        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE test_prepared_migrated ALTER COLUMN v TYPE varchar(30)")
        with pytest.raises(NotSupportedError), transaction.atomic():
            _read("test_prepared_migrated_read")  # its transaction is lost already …
        with transaction.atomic():
            assert _read("test_prepared_migrated_read") == "a"  # … the next one prepares it again
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE test_prepared_migrated")


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_before_the_prepare_raises_djangos_error_which_the_tasks_retry():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # a PostgreSQL restart, for this connection
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits until it has gone
    finally:
        other.close()
    try:
        with pytest.raises((OperationalError, InterfaceError)), connection.cursor() as cursor:
            execute_prepared(cursor, name="test_prepared_lost", sql="SELECT %s::int", params=[1])
        assert connection.errors_occurred  # so the health check replaces the connection
    finally:
        connection.close()
