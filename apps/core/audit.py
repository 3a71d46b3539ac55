"""Audit rows for configuration edits (engines, templates): a JSON snapshot of the object
before and after, written in the same transaction as the save."""

import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.forms.models import model_to_dict

from apps.core.models import ConfigChange


def model_snapshot(instance: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The instance's editable fields as plain JSON (Decimal and dates as strings, foreign keys
    as ids), for an audit row's before/after."""
    data = model_to_dict(instance, exclude=list(exclude))
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def config_change_record(
    *, kind: str, slug: str, before: dict[str, Any] | None, after: dict[str, Any] | None, by: AbstractBaseUser | None
) -> ConfigChange | None:
    """Write an audit row (`kind`: "engine" | "template"), unless nothing changed. `before` is
    None for a new object, `after` None for a deleted one."""
    if before == after:
        return None
    return ConfigChange.objects.create(
        actor=by if by is not None and by.pk else None,
        actor_name=by.get_username() if by is not None else "system",
        kind=kind,
        object_slug=slug[:100],
        before=before,
        after=after,
    )
