"""Hot reads and writes with SQL built once per process, for the submission's statements.

The ORM compiles a statement anew at every call: for the submission's few, small statements
that was most of the web process's CPU per job (issue 13). These two helpers do exactly what
their ORM counterparts do with SQL made once per (model, shape, backend).


`rows_insert(objs)` writes what `Model.save(force_insert=True)` (one object) or
`bulk_create` (several) would: every local concrete column, each value through the field's
own `pre_save(add=True)` (auto_now_add, defaults already on the instance) and
`get_db_prep_save` (JSON, UUIDs, decimals, datetimes as the backend wants them), and the new
primary keys read back with RETURNING. What it skips is the ORM compiling the same INSERT at
every call: building it took about a third of the web process's CPU per submission
(issue 13). It sends no model signals (the models it is used for have no receivers, and
`bulk_create` sends none either).

Falls back to `bulk_create` for a model it cannot handle exactly (a primary key that is not
database-generated, a column the database fills in itself) or a backend without
INSERT … RETURNING.
"""

from collections.abc import Sequence
from functools import cache

from django.db import connections, models, router


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
    fields = tuple(f for f in meta.local_concrete_fields if f is not pk and not f.generated)
    quote = connections[router.db_for_write(model)].ops.quote_name
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([one] * rows)} RETURNING {quote(pk.column)}"
    )
    return sql, fields


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
    params: list[object] = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="rows_insert")
        params += [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


@cache
def _select(
    model: type[models.Model], vendor: str, where: tuple[str, ...]
) -> tuple[str, tuple[models.Field, ...], tuple]:
    """SELECT of every concrete column of `model` for rows whose `where` fields equal the
    parameters, the fields used to prepare those parameters, and each column's converters
    (the backend's and the field's, as the ORM applies them: none on PostgreSQL)."""
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    filters = tuple(meta.get_field(name) for name in where)
    columns = ", ".join(quote(f.column) for f in meta.concrete_fields)
    conditions = " AND ".join(f"{quote(f.column)} = %s" for f in filters)
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {conditions}"
    converters = []
    for field in meta.concrete_fields:
        col = field.get_col(meta.db_table)
        converters.append(tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return sql, filters, tuple(converters)


def row_get[M: models.Model](model: type[M], **equal: object) -> M | None:
    """The one row of `model` whose fields equal `equal` (a unique key: which of several
    rows is unspecified), or None: `model.objects.filter(**equal).first()` without the
    ordering, compiled once. Field names, not lookups; a ForeignKey by its `<name>_id`."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    names = tuple(equal)
    sql, filters, converters = _select(model, connection.vendor, names)
    params = [
        f.get_db_prep_value(equal[name], connection, prepared=False) for f, name in zip(filters, names, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql + " LIMIT 1", params)
        row = cursor.fetchone()
    if row is None:
        return None
    meta = model._meta
    values = []
    for field, value, convert in zip(meta.concrete_fields, row, converters, strict=True):
        col = field.get_col(meta.db_table) if convert else None
        for converter in convert:
            value = converter(value, col, connection)
        values.append(value)
    return model.from_db(alias, [f.attname for f in meta.concrete_fields], values)


@cache
def _guarded(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk = meta.pk
    fields = tuple(f for f in meta.local_concrete_fields if f is not pk and not f.generated)
    # Typed placeholders: a SELECT's untyped literals would be read as text, not as the columns' types.
    values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {values} FROM guard RETURNING {quote(pk.column)}"
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
    obj._prepare_related_fields_for_save(operation_name="row_insert_guarded")
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH guard AS ({guard}) {sql}", [*guard_params, *params])
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = alias
    return True
