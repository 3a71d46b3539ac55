"""Hot reads and writes with SQL built once per process (issue 13).

The ORM compiles a statement anew at every call: for the few small statements every job runs
(its submission, each attempt's claim, store and conclusion, the budget's hold and settle)
building them cost more CPU than PostgreSQL spent running them. These helpers do exactly what
their ORM counterparts do, with SQL made once per (model, shape, backend); none sends model
signals (the models they are used for have no receivers, and `bulk_create` sends none either).

- `rows_insert(objs)` writes what `Model.save(force_insert=True)` (one object) or `bulk_create`
  (several) would: every local concrete column, each value through the field's own
  `pre_save(add=True)` (auto_now_add, defaults already on the instance) and `get_db_prep_save`
  (JSON, UUIDs, decimals, datetimes as the backend wants them), the new primary keys read back
  with RETURNING. It falls back to `bulk_create` for a model it cannot handle exactly (a primary
  key that is not database-generated, a column the database fills in itself) or a backend
  without INSERT … RETURNING.
- `row_insert_guarded(obj, guard=…)` (PostgreSQL) inserts `obj` only if an UPDATE … RETURNING
  in the same statement changed a row.
- `rows_update(Model, values=…, where=…)` is a conditional UPDATE of plain values.
- `ModelColumns(Model, "alias")` gives the select list of the model's concrete columns (or of
  `fields`) for a hand-written join as `.sql`, and turns that slice of a row back into values
  the way the ORM does (the backend's and the fields' converters: JSONField parses its text on
  PostgreSQL; SQLite converts dates, decimals, UUIDs), then `Model.from_db` (`.load`) or onto an
  instance (`.assign`, as `refresh_from_db` does). The column list follows the model, so a
  migration that adds a field needs no change here. `row_get` reads one row by equal fields.
"""

import re
from collections.abc import Sequence
from functools import cache, cached_property
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, router


@cache
def _statement(model: type[models.Model], vendor: str, rows: int) -> tuple[str, tuple[models.Field, ...]] | None:
    """The INSERT for `rows` rows of `model` and the fields whose values it takes, or None
    when this model needs the ORM's general path. `vendor` keys the cache by backend."""
    meta = model._meta
    pk = meta.pk
    if pk is None or not isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField):
        return None
    if list(meta.db_returning_fields) != [pk] or meta.parents:
        return None
    fields = _inserted_fields(model)
    quote = connections[router.db_for_write(model)].ops.quote_name
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([one] * rows)} RETURNING {quote(pk.column)}"
    )
    return sql, fields


def _inserted_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The columns an INSERT of `model` writes: every local concrete one but the generated key."""
    meta = model._meta
    return tuple(f for f in meta.local_concrete_fields if f is not meta.pk and not f.generated)


def _insert_params(obj: models.Model, fields: Sequence[models.Field], connection: Any, operation: str) -> list[object]:
    """`obj`'s values for `fields` as `save()` writes them (pre_save with add, then prepared)."""
    obj._prepare_related_fields_for_save(operation_name=operation)
    return [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]


def _saved(obj: models.Model, pk: object, alias: str) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = alias


def rows_insert(objs: Sequence[models.Model]) -> None:
    """Insert the unsaved `objs` (one model) and set their primary keys, as `bulk_create`
    does; the caller's transaction holds them. The order of RETURNING is the order of
    VALUES, which Django's own `bulk_create` relies on too."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    built = (
        _statement(model, connection.vendor, len(objs))
        if connection.features.can_return_rows_from_bulk_insert
        else None
    )
    if built is None:
        model._default_manager.bulk_create(objs)
        return
    sql, fields = built
    params = [p for obj in objs for p in _insert_params(obj, fields, connection, "rows_insert")]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        _saved(obj, pk, alias)


@cache
def _table_columns(model: type[models.Model]) -> "ModelColumns":
    return ModelColumns(model, connection.ops.quote_name(model._meta.db_table))


@cache
def _where(model: type[models.Model], names: tuple[str, ...], vendor: str) -> str:
    quote = connection.ops.quote_name
    conditions = " AND ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in names)
    return f"SELECT {_table_columns(model).sql} FROM {quote(model._meta.db_table)} WHERE {conditions} LIMIT 1"


def row_get[M: models.Model](model: type[M], **equal: object) -> M | None:
    """The one row of `model` whose fields equal `equal` (a unique key: which of several
    rows is unspecified), or None: `model.objects.filter(**equal).first()` without the
    ordering, compiled once. Field names, not lookups; a ForeignKey by its `<name>_id`."""
    names = tuple(equal)
    params = [model._meta.get_field(n).get_db_prep_value(equal[n], connection, prepared=False) for n in names]
    with connection.cursor() as cursor:
        cursor.execute(_where(model, names, connection.vendor), params)
        row = cursor.fetchone()
    return None if row is None else _table_columns(model).load(row)


@cache
def _guarded(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = _inserted_fields(model)
    # Typed placeholders: a SELECT's untyped literals would be read as text, not as the columns' types.
    # Without the type's modifier: a cast to varchar(64) cuts a longer value short without a word,
    # where the ORM's INSERT is refused; the column's own length and scale still apply on assignment.
    types = [re.sub(r"\(.*\)", "", f.cast_db_type(connection)) for f in fields]
    values = ", ".join(f"%s::{db_type}" for db_type in types)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {values} FROM guard RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def row_insert_guarded(obj: models.Model, *, guard: str, guard_params: Sequence[object]) -> bool:
    """PostgreSQL only: run the data-modifying statement `guard` (an UPDATE … RETURNING) and
    insert the unsaved `obj` in the same statement if and only if `guard` returned a row,
    as `if guard changed a row: rows_insert([obj])` would in two. True when it did."""
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    assert connection.vendor == "postgresql", "data-modifying WITH is PostgreSQL's"
    assert _statement(model, connection.vendor, 1) is not None, f"{model.__name__} needs the ORM's insert"
    sql, fields = _guarded(model)
    params = _insert_params(obj, fields, connection, "row_insert_guarded")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH guard AS ({guard}) {sql}", [*guard_params, *params])
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(obj, row[0], alias)
    return True


class ModelColumns[M: models.Model]:
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
def _prepper(model: type[models.Model], names: tuple[str, ...]) -> list[Any]:
    """Each field's `get_db_prep_save` (the value as the ORM would write it: dates for SQLite,
    JSON as text …)."""
    return [model._meta.get_field(n).get_db_prep_save for n in names]


@cache
def _update_sql(model: type[models.Model], names: tuple[str, ...], where: tuple[str, ...], vendor: str) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in names)
    conditions = " AND ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in where)
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {conditions}"


def rows_update(model: type[models.Model], *, values: dict[str, Any], where: dict[str, Any]) -> int:
    """UPDATE … SET `values` WHERE every `where` field equals its value; the rows updated.
    Values prepared as the ORM prepares them; no expressions, no signals."""
    conn = connections[DEFAULT_DB_ALIAS]
    names, keys = tuple(values), tuple(where)
    params = [prep(v, conn) for prep, v in zip(_prepper(model, names), values.values(), strict=True)]
    params += [prep(v, conn) for prep, v in zip(_prepper(model, keys), where.values(), strict=True)]
    with conn.cursor() as cursor:
        cursor.execute(_update_sql(model, names, keys, conn.vendor), params)
        return cursor.rowcount
