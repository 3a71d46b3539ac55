"""Adapter registry: one module per wire format."""

from collections.abc import Callable

from apps.engines.models import Engine
from apps.engines.types import Adapter, MisconfiguredError

AdapterFactory = Callable[[Engine], Adapter]


def _builtin(engine: Engine) -> Adapter:
    from apps.engines.adapters.builtin import BuiltinAdapter

    return BuiltinAdapter(engine)


def _lazy(module: str, name: str) -> AdapterFactory:
    def factory(engine: Engine) -> Adapter:
        import importlib

        return getattr(importlib.import_module(f"apps.engines.adapters.{module}"), name)(engine)  # type: ignore[no-any-return]

    return factory


_FACTORIES: dict[str, AdapterFactory] = {
    "builtin": _builtin,
    "null": _lazy("null", "NullAdapter"),
    "http": _lazy("http", "GenericHttpAdapter"),
    "openai": _lazy("openai", "OpenAIAdapter"),
    "imagen": _lazy("imagen", "ImagenAdapter"),
    "gemini": _lazy("gemini", "GeminiImageAdapter"),
    "stability": _lazy("stability", "StabilityAdapter"),
    "ideogram": _lazy("ideogram", "IdeogramAdapter"),
    "comfyui": _lazy("comfyui", "ComfyUIAdapter"),
}


def register(kind: str, factory: AdapterFactory) -> None:
    _FACTORIES[kind] = factory


def adapter_for(engine: Engine) -> Adapter:
    factory = _FACTORIES.get(engine.adapter)
    if factory is None:
        raise MisconfiguredError(f"No adapter is installed for kind {engine.adapter!r}.")
    return factory(engine)
