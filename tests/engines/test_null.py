"""The null benchmark engine: a cached PNG, no rendering, priced $0 as a benchmark."""

import io
from decimal import Decimal

from PIL import Image

from apps.engines import pricing
from apps.engines.adapters import adapter_for
from apps.engines.adapters.null import cached_png
from apps.engines.models import AdapterKind, Engine
from apps.engines.types import EngineRequest


def test_null_engine_returns_a_png_of_the_requested_size():
    engine = Engine(slug="null", name="Null", adapter=AdapterKind.NULL)

    result = adapter_for(engine).generate(EngineRequest(prompt="anything", seed=5, width=320, height=200))

    assert result.mime_type == "image/png"
    assert Image.open(io.BytesIO(result.image)).size == (320, 200)
    assert result.seed_used == 5
    assert result.image is cached_png(320, 200)  # the same bytes object: nothing re-encoded


def test_null_engine_is_priced_zero_as_a_benchmark_not_a_vendor():
    engine = Engine(slug="null", name="Null", adapter=AdapterKind.NULL, price_usd=Decimal("0.04"))
    result = adapter_for(engine).generate(EngineRequest(prompt="x", seed=1, width=64, height=64))

    price = pricing.price_attempt(engine, result.billing)

    assert (price.usd, price.source) == (Decimal("0"), "benchmark")
    assert "not a vendor" in price.detail
    assert pricing.pricing_summary(engine)[1] is False
    assert engine.label == "Null (benchmark engine)"
    assert engine.simulated is True
