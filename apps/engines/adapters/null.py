"""The `null` engine: a BENCHMARK engine, not a model and not a vendor.

It answers at once with a cached PNG of the requested size (one flat grey image per size and
process, encoded once at `compress_level=1`): no rendering, no waiting, no network. It exists
so that benchmarks (`manage.py bench_orchestration`) measure the orchestration around an
engine call, not the built-in simulation's drawing and encoding (about 150 CPU-ms per
production job, issue 13). Its calls are priced $0 with `price_source` "benchmark"
(`pricing.price_attempt`), so no report takes them for a vendor's bill.
"""

import io
import time
from functools import lru_cache

from PIL import Image

from apps.engines.models import Engine
from apps.engines.types import Billing, EngineRequest, EngineResult

GREY = (128, 128, 128)


@lru_cache(maxsize=32)
def cached_png(width: int, height: int) -> bytes:
    """A flat grey PNG of `width` × `height`, made once per size and process."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), GREY).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class NullAdapter:
    def __init__(self, engine: Engine):
        self.engine = engine

    def generate(self, request: EngineRequest) -> EngineResult:
        started = time.perf_counter()
        image = cached_png(request.width, request.height)
        size = f"{request.width}x{request.height}"
        return EngineResult(
            image=image,
            mime_type="image/png",
            seed_used=request.seed,
            width=request.width,
            height=request.height,
            timings_ms={"total": (time.perf_counter() - started) * 1000},
            sent={"size": size, "benchmark": "null engine: a cached image, not a render"},
            billing=Billing(model="null", size=size, pixels=size),
        )
