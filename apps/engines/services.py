"""Engine calls. No other app talks to a vendor."""

from apps.engines.adapters import adapter_for
from apps.engines.models import Engine
from apps.engines.types import EngineRequest, EngineResult


def engine_generate(*, engine: Engine, request: EngineRequest) -> EngineResult:
    """Generate one image with `engine`. Raises an EngineError subclass on failure."""
    return adapter_for(engine).generate(request)
