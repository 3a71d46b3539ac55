"""The one adapter interface: a request in, a result out, typed errors.

Adapters know nothing of jobs or templates; they take an `EngineRequest` and return an
`EngineResult` or raise an `EngineError` subclass.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class EngineRequest:
    prompt: str
    seed: int | None
    width: int
    height: int
    negative_prompt: str = ""
    guidance: int = 0  # escalation level: 0 = as configured, higher = stronger adherence
    adapter_ref: str = ""  # LoRA / adapter reference, when the engine supports one
    extra: dict[str, Any] = field(default_factory=dict)  # vendor parameters, text regions …


@dataclass(kw_only=True)
class EngineResult:
    image: bytes
    mime_type: str
    seed_used: int | None
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)  # connect, first_byte, download …
    vendor_request_id: str = ""
    billed_units: float = 1.0
    sent: dict[str, Any] = field(default_factory=dict)  # what was actually sent: size, model …


class EngineError(Exception):
    """Base of every adapter error. `kind` is stored on the attempt."""

    kind = "engine_error"
    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status = status


class RetryableError(EngineError):
    """Timeouts, 429, 5xx: the same attempt may be retried after a backoff."""

    kind = "retryable"
    retryable = True


class RefusedError(EngineError):
    """Content policy: never retried, shown to the editor in plain words."""

    kind = "refused"


class BadResponseError(EngineError):
    """Malformed, oversized, not an image, empty data."""

    kind = "bad_response"


class AdapterCrashError(EngineError):
    """The adapter raised something that is not an EngineError (a bug, or input the engine
    cannot handle, e.g. the simulation's ValueError on thousands of quoted words): the call
    failed for good, and the message keeps the original exception's type and text."""

    kind = "adapter_crash"


class MisconfiguredError(EngineError):
    """Missing key, retired or unknown model, base URL not allowed."""

    kind = "misconfigured"


class Adapter(Protocol):
    def generate(self, request: EngineRequest) -> EngineResult: ...
