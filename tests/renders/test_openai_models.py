"""GET /v1/models says what each engine is in `owned_by`, the model object's free-text field:
the built-in simulations and the null benchmark engine are not image models."""

from decimal import Decimal

import pytest

from apps.accounts.services import api_token_create
from apps.engines.models import Engine

pytestmark = pytest.mark.django_db


def test_v1_models_owned_by_names_simulations_and_the_benchmark_engine(client, demo, editor):
    Engine.objects.create(slug="null-bench", name="Null bench", adapter="null", price_usd=Decimal("0"))
    headers = {"Authorization": f"Bearer {api_token_create(user=editor, name='sdk')}"}

    owners = {m["id"]: m["owned_by"] for m in client.get("/v1/models", headers=headers).json()["data"]}
    detail = client.get("/v1/models/null-bench", headers=headers).json()

    assert (owners["builtin-turbo"], owners["null-bench"], owners["production"]) == (
        "renderhub-simulation",
        "renderhub-benchmark",
        "renderhub-tier",
    )
    assert detail["owned_by"] == "renderhub-benchmark"
