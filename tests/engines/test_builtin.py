import io

import pytest
from PIL import Image

from apps.engines.adapters.builtin import BuiltinAdapter, hallucinate
from apps.engines.models import Engine, EngineCall
from apps.engines.prompts import quoted_texts
from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest, MisconfiguredError


@pytest.fixture
def engine(db):  # type: ignore[no-untyped-def]
    return Engine(slug="sim", name="Sim", adapter="builtin", params={"typo_rate": 0.0, "latency_p50_ms": 1})


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": 'cover with the title "Mama\'s Kitchen"', "seed": 5, "width": 320, "height": 200}
    return EngineRequest(**{**base, **kw})


def test_builtin_same_request_gives_identical_bytes(engine, settings):
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
    adapter = BuiltinAdapter(engine)

    assert adapter.generate(_request()).image == adapter.generate(_request()).image


def test_builtin_other_seed_gives_other_image(engine):
    adapter = BuiltinAdapter(engine)

    assert adapter.render(_request(seed=5))[0] != adapter.render(_request(seed=6))[0]


def test_builtin_returns_png_of_requested_size(engine):
    image, _ = BuiltinAdapter(engine).render(_request(width=300, height=180))

    assert Image.open(io.BytesIO(image)).size == (300, 180)


def test_builtin_injects_typos_at_the_configured_rate(engine):
    engine.params = {"typo_rate": 1.0}
    adapter = BuiltinAdapter(engine)

    drawn = [adapter.render(_request(seed=s))[1] for s in range(20)]

    assert all(d["injected_typos"] for d in drawn)
    assert all(d["drawn_texts"] != ["Mama's Kitchen"] for d in drawn)


def test_builtin_guidance_lowers_the_typo_rate(engine):
    engine.params = {"typo_rate": 0.8}
    adapter = BuiltinAdapter(engine)

    base = sum(bool(adapter.render(_request(seed=s))[1]["injected_typos"]) for s in range(60))
    guided = sum(bool(adapter.render(_request(seed=s, guidance=2))[1]["injected_typos"]) for s in range(60))

    assert guided < base / 3


def test_quoted_texts_reads_double_single_and_curly_quotes():
    assert quoted_texts("a sign \"SALE\" and “Fresh Bread”, then 'BIG' deal") == ["SALE", "Fresh Bread", "BIG"]


def test_hallucinate_always_changes_the_text():
    import random

    rng = random.Random(1)
    for _ in range(200):
        text, kind = hallucinate("Harbour Lights Festival", rng)
        assert text != "Harbour Lights Festival", kind


@pytest.mark.django_db
def test_engine_generate_turns_unusable_params_into_a_misconfigured_error():
    """Params written around the form (Django admin, an import) used to raise a bare ValueError:
    the attempt stayed "running" until the sweeper failed it as "worker lost"."""
    engine = Engine.objects.create(slug="sim", name="Sim", adapter="builtin", params={"latency_p50_ms": "abc"})

    with pytest.raises(MisconfiguredError, match="unusable params"):
        engine_generate(engine=engine, request=_request())

    assert list(EngineCall.objects.values_list("ok", "error_kind")) == [(False, "misconfigured")]
