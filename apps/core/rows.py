"""Model instances from hand-written SQL, for the few hot statements where building the query
through the ORM costs more CPU than running it (a worker's claim of an attempt: issue 13).

`ModelColumns(Model, "alias")` gives the select list of the model's concrete columns (or of
`fields`) as `.sql`, and turns that slice of a row back into values the way the ORM does: the
backend's and the fields' converters (JSONField parses its text on PostgreSQL; SQLite converts
dates, decimals, UUIDs), then `Model.from_db` (`.load`) or onto an instance (`.assign`, as
`refresh_from_db` does). The column list follows the model, so a migration that adds a field
needs no change here. `rows_insert` and `rows_update` write plain values the same way (each
prepared as the ORM prepares it), without the ORM's query building."""

from functools import cached_property
from typing import Any

from django.db import connection
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

    def _convert(self, row: tuple[Any, ...], start: int) -> list[Any]:
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
        return self.model.from_db(connection.alias, self.attnames, self._convert(row, start))

    def assign(self, instance: M, row: tuple[Any, ...], start: int = 0) -> None:
        """Set the fields in `row[start : start + width]` on `instance` (plain columns only:
        no cached relation is cleared)."""
        for name, value in zip(self.attnames, self._convert(row, start), strict=True):
            setattr(instance, name, value)


def _prep(model: type[Model], name: str, value: Any) -> Any:
    """A value as the ORM would write it to `model.name` (dates for SQLite, JSON as text …)."""
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def _column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def rows_insert(model: type[Model], rows: list[dict[str, Any]], *, returning_pk: bool = False) -> list[Any]:
    """INSERT `rows` (field name → value, the same names in every row) in one statement, each
    value prepared as the ORM prepares it; no signals, no defaults filled in (pass every field
    the table needs: `auto_now_add` ones included). The new primary keys with `returning_pk`."""
    names = list(rows[0])
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)}"
        f" ({', '.join(_column(model, n) for n in names)}) VALUES {', '.join([placeholders] * len(rows))}"
    )
    if returning_pk:
        sql += f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    params = [_prep(model, n, row[n]) for row in rows for n in names]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()] if returning_pk else []


def rows_update(model: type[Model], *, values: dict[str, Any], where: dict[str, Any]) -> int:
    """UPDATE … SET `values` WHERE every `where` field equals its value; the rows updated.
    Values prepared as the ORM prepares them; no expressions, no signals."""
    sets = ", ".join(f"{_column(model, n)} = %s" for n in values)
    conditions = " AND ".join(f"{_column(model, n)} = %s" for n in where)
    params = [_prep(model, n, v) for n, v in values.items()] + [_prep(model, n, v) for n, v in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {sets} WHERE {conditions}", params
        )
        return cursor.rowcount
