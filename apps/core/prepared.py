"""PostgreSQL prepared statements, for a hot statement whose planning costs more CPU than running
it. A worker's claim of an attempt joins six tables: PostgreSQL spent about 0.6 ms planning it
at every call and 0.2 ms running it (issue 13); prepared, it is planned once per connection.

The statement is prepared the first time this process runs it on a database connection
(PREPARE lasts as long as the connection, whatever happens to the transactions around it),
then each call is an EXECUTE with the parameters. The PREPARE goes straight to the driver, so
it is not counted as a statement of whichever task ran first on the connection, any more than
Django's own set-up of a new connection is."""

import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from django.db.backends.utils import CursorWrapper

_prepared: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def numbered(sql: str) -> str:
    """`%s` placeholders as PostgreSQL's `$1`, `$2` … (a PREPARE takes no driver placeholders)."""
    counter = iter(range(1, sql.count("%s") + 1))
    return re.sub(r"%s", lambda _: f"${next(counter)}", sql)


def execute_prepared(cursor: CursorWrapper, *, name: str, sql: str, params: Sequence[Any]) -> None:
    """Run `sql` (`%s` placeholders, PostgreSQL only) as the prepared statement `name` on the
    cursor's connection, preparing it there first if this process has not yet."""
    raw = cursor.cursor.connection  # the driver's connection: a new one after a reconnect
    with _lock:
        names = _prepared.setdefault(raw, set())
    if name not in names:
        cursor.cursor.execute(f"PREPARE {name} AS {numbered(sql)}")
        names.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
