"""INSERT of new model rows with SQL built once per process, for the submission's hot writes.

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
