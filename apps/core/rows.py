"""Model instances from hand-written SQL, for the few hot statements where building the query
through the ORM costs more CPU than running it (a worker's claim of an attempt: issue 13).

`ModelColumns(Model, "alias")` gives the select list of the model's concrete columns (or of
`fields`) as `.sql`, and turns that slice of a row back into values the way the ORM does: the
backend's and the fields' converters (JSONField parses its text on PostgreSQL; SQLite converts
dates, decimals, UUIDs), then `Model.from_db` (`.load`) or onto an instance (`.assign`, as
`refresh_from_db` does). The column list follows the model, so a migration that adds a field
needs no change here. `rows_insert` and `rows_update` write plain values the same way (each
prepared as the ORM prepares it), without the ORM's query building."""

from functools import cache, cached_property
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


class ModelColumns[M: Model]:
    def __init__(self, model: type[M], alias: str, *, fields: list[str] | None = None):
        self.model, self.alias = model, alias
        concrete = model._meta.concrete_fields
        self.fields = list(concrete) if fields is None else [model._meta.get_field(name) for name in fields]
        self.width = len(self.fields)
        self.attnames = [f.attname for f in self.fields]
        pk = model._meta.pk.attname
        self._pk = self.attnames.index(pk) if pk in self.attnames else None
        self._converters: dict[str, list[tuple[int, list[Any], Any]]] = {}

    @cached_property
    def sql(self) -> str:
        """`alias."column", …` for each field, in order."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(f.column)}" for f in self.fields)

    def values(self, row: tuple[Any, ...], start: int = 0) -> list[Any]:
        """The fields' values in `row[start : start + width]`, converted as the ORM converts them."""
        vendor = connection.vendor
        if vendor not in self._converters:
            found = []
            for i, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if funcs:
                    found.append((i, funcs, col))
            self._converters[vendor] = found
        values = list(row[start : start + self.width])
        for i, funcs, col in self._converters[vendor]:
            for func in funcs:
                values[i] = func(values[i], col, connection)
        return values

    def load(self, row: tuple[Any, ...], start: int = 0) -> M | None:
        """The instance in `row[start : start + width]` (every concrete field selected); None
        when its primary key is NULL (a LEFT JOIN that found nothing)."""
        if self._pk is None or row[start + self._pk] is None:
            return None
        return self.model.from_db(connection.alias, self.attnames, self.values(row, start))

    def assign(self, instance: M, row: tuple[Any, ...], start: int = 0) -> None:
        """Set the fields in `row[start : start + width]` on `instance` (plain columns only:
        no cached relation is cleared)."""
        for name, value in zip(self.attnames, self.values(row, start), strict=True):
            setattr(instance, name, value)


@cache
def _prepper(model: type[Model], names: tuple[str, ...]) -> list[Any]:
    """Each field's `get_db_prep_save` (the value as the ORM would write it: dates for SQLite,
    JSON as text …)."""
    return [model._meta.get_field(n).get_db_prep_save for n in names]


@cache
def _insert_sql(model: type[Model], names: tuple[str, ...], rows: int, returning_pk: bool, vendor: str) -> str:
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    columns = ", ".join(quote(model._meta.get_field(n).column) for n in names)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([placeholders] * rows)}"
    return sql + (f" RETURNING {quote(model._meta.pk.column)}" if returning_pk else "")


@cache
def _update_sql(model: type[Model], names: tuple[str, ...], where: tuple[str, ...], vendor: str) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in names)
    conditions = " AND ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in where)
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {conditions}"


def rows_insert(model: type[Model], rows: list[dict[str, Any]], *, returning_pk: bool = False) -> list[Any]:
    """INSERT `rows` (field name → value, the same names in every row) in one statement, each
    value prepared as the ORM prepares it; no signals, no defaults filled in (pass every field
    the table needs: `auto_now_add` ones included). The new primary keys with `returning_pk`."""
    conn = connections[DEFAULT_DB_ALIAS]
    names = tuple(rows[0])
    preps = list(zip(names, _prepper(model, names), strict=True))
    params = [prep(row[n], conn) for row in rows for n, prep in preps]
    with conn.cursor() as cursor:
        cursor.execute(_insert_sql(model, names, len(rows), returning_pk, conn.vendor), params)
        return [r[0] for r in cursor.fetchall()] if returning_pk else []


def rows_update(model: type[Model], *, values: dict[str, Any], where: dict[str, Any]) -> int:
    """UPDATE … SET `values` WHERE every `where` field equals its value; the rows updated.
    Values prepared as the ORM prepares them; no expressions, no signals."""
    conn = connections[DEFAULT_DB_ALIAS]
    names, keys = tuple(values), tuple(where)
    params = [prep(v, conn) for prep, v in zip(_prepper(model, names), values.values(), strict=True)]
    params += [prep(v, conn) for prep, v in zip(_prepper(model, keys), where.values(), strict=True)]
    with conn.cursor() as cursor:
        cursor.execute(_update_sql(model, names, keys, conn.vendor), params)
        return cursor.rowcount
