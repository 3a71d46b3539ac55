"""PostgreSQL prepared statements, for a hot statement whose planning costs more CPU than running
it. A worker's claim of an attempt joins six tables: PostgreSQL spent about 0.6 ms planning it
at every call and 0.2 ms running it (issue 13); prepared, it is planned once per connection.

The statement is prepared the first time this process runs it on a database connection
(PREPARE lasts as long as the connection, whatever happens to the transactions around it),
then each call is an EXECUTE with the parameters. The PREPARE goes straight to the driver, so
it is not counted as a statement of whichever task ran first on the connection, any more than
Django's own set-up of a new connection is; its errors are Django's all the same (a connection
lost there is a django.db OperationalError, which the tasks retry, and marks the connection
for the health check).

A migration that changes the type of a column the statement returns (a max_length, a decimal's
precision) makes PostgreSQL refuse the plan it keeps ("cached plan must not change result
type", SQLSTATE 0A000), where the ORM's statements, planned at every call, never meet it: the
statement is prepared again, at once when no transaction is open, else (that transaction is
lost already) at the connection's next call."""

import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError
from django.db.backends.utils import CursorWrapper

# driver connection → name → True (prepared) or False (its plan went stale: deallocate, prepare again)
_prepared: "weakref.WeakKeyDictionary[Any, dict[str, bool]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_STALE_PLAN = "0A000"  # feature_not_supported: "cached plan must not change result type"


def numbered(sql: str) -> str:
    """`%s` placeholders as PostgreSQL's `$1`, `$2` … (a PREPARE takes no driver placeholders)."""
    counter = iter(range(1, sql.count("%s") + 1))
    return re.sub(r"%s", lambda _: f"${next(counter)}", sql)


def _prepare(cursor: CursorWrapper, names: dict[str, bool], *, name: str, sql: str) -> None:
    with cursor.db.wrap_database_errors:
        if name in names:  # stale: the old plan goes first
            cursor.cursor.execute(f"DEALLOCATE {name}")
            del names[name]
        cursor.cursor.execute(f"PREPARE {name} AS {numbered(sql)}")
    names[name] = True


def execute_prepared(cursor: CursorWrapper, *, name: str, sql: str, params: Sequence[Any]) -> None:
    """Run `sql` (`%s` placeholders, PostgreSQL only) as the prepared statement `name` on the
    cursor's connection, preparing it there first if this process has not yet."""
    raw = cursor.cursor.connection  # the driver's connection: a new one after a reconnect
    with _lock:
        names = _prepared.setdefault(raw, {})
    if not names.get(name):
        _prepare(cursor, names, name=name, sql=sql)
    execute = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
    try:
        cursor.execute(execute, params)
    except NotSupportedError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != _STALE_PLAN:
            raise
        names[name] = False
        if not cursor.db.get_autocommit():
            raise
        _prepare(cursor, names, name=name, sql=sql)
        cursor.execute(execute, params)
