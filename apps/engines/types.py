"""The one adapter interface: a request in, a result out, typed errors.

Adapters know nothing of jobs or templates; they take an `EngineRequest` and return an
`EngineResult` or raise an `EngineError` subclass.
"""

import contextlib
from collections.abc import Iterator
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
    adapter_ref: str = ""  # an Adapter's `reference` (LoRA file, adapter name, fine-tuned id); "" = none
    adapter_strength: float | None = None  # LoRA multiplier for model and clip; None with no adapter
    extra: dict[str, Any] = field(default_factory=dict)  # vendor parameters, text regions …


@dataclass(frozen=True, kw_only=True)
class TokenUsage:
    """A vendor's token count for one call, normalised (all non-negative integers).

    OpenAI GPT image `usage` (research/engines.md §1.2: `input_tokens`, `output_tokens`,
    `total_tokens`, `input_tokens_details{text_tokens,image_tokens}`,
    `output_tokens_details{image_tokens,text_tokens}`) and Gemini `usageMetadata`
    (`promptTokenCount`, `candidatesTokenCount`, `totalTokenCount`,
    `candidatesTokensDetails[{modality, tokenCount}]`) map onto the same fields. Where the
    vendor gives no split, `output_image_tokens` is the whole output and `input_text_tokens`
    the whole input.
    """

    input_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_tokens: int = 0
    output_image_tokens: int = 0
    output_text_tokens: int = 0
    total_tokens: int = 0

    def as_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class Billing:
    """What one engine call billed for: the units actually sent and the vendor's own count.

    - `model`: the model id on the wire ("gpt-image-2", "imagen-4.0-ultra-generate-001", …).
    - `size`: the size unit sent, in the vendor's notation: "1024x1024" (OpenAI, ComfyUI,
      generic HTTP, Ideogram 4 `resolution`), an aspect ratio "16:9" (Imagen, Gemini,
      Stability), "16x9" (Ideogram 3) or "ASPECT_16_9" (Ideogram legacy).
    - `quality`: the quality tier sent, resolved: a blank tier quality is recorded as the
      adapter's default ("medium" for GPT image, "standard" for DALL·E 3, Ideogram's
      `rendering_speed`, Gemini's `imageSize`, Imagen's `sampleImageSize`); "" where the
      vendor prices one tier only.
    - `n`: images billed (1: every adapter asks for one image).
    - `usage`: the vendor's token count when the answer carries one, else None;
      `usage_raw` keeps the vendor's object verbatim.
    - `pixels`: the WxH the vendor returned (before fitting to the canvas).
    """

    model: str
    size: str
    quality: str = ""
    n: int = 1
    usage: TokenUsage | None = None
    usage_raw: dict[str, Any] | None = None
    pixels: str = ""

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe dict (for JSONField storage); `Billing.from_json` reads it back."""
        return {
            "model": self.model,
            "size": self.size,
            "quality": self.quality,
            "n": self.n,
            "usage": self.usage.as_json() if self.usage else None,
            "usage_raw": self.usage_raw,
            "pixels": self.pixels,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Billing":
        usage = data.get("usage")
        return cls(
            model=str(data.get("model", "")),
            size=str(data.get("size", "")),
            quality=str(data.get("quality", "")),
            n=int(data.get("n", 1)),
            usage=TokenUsage(**usage) if isinstance(usage, dict) else None,
            usage_raw=data.get("usage_raw"),
            pixels=str(data.get("pixels", "")),
        )


@dataclass(kw_only=True)
class EngineResult:
    image: bytes
    mime_type: str
    seed_used: int | None
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)  # connect, first_byte, download …
    vendor_request_id: str = ""
    billed_units: float = 1.0  # superseded by `billing` + pricing.price_attempt
    sent: dict[str, Any] = field(default_factory=dict)  # what was actually sent: size, model …
    billing: Billing | None = None  # None only where nothing is billed per call (simulation)
    # The call's health record (an unsaved EngineCall) when the caller saves it itself, inside
    # its own transaction (`engine_generate(record_success=False)`, `engine_call_save`).
    health_record: Any = None


class EngineError(Exception):
    """Base of every adapter error. `kind` is stored on the attempt."""

    kind = "engine_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        billing: "Billing | None" = None,
    ):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status = status
        # Set when the vendor bills the failed call anyway (Ideogram's `is_image_safe: false`).
        self.billing = billing
        # Set by the transport when a POST reached the vendor in full and no answer came back
        # (a read timeout, a dropped connection, a 2xx body cut at the deadline): the vendor
        # may have done, and billed, the work. Such a call is priced "unknown", never $0.
        self.possibly_billed = False


@contextlib.contextmanager
def billed_on_failure(billing: "Billing | None") -> Iterator[None]:
    """Inside the block, an EngineError carries `billing` (unless it has its own): for work that
    follows a call the vendor has already billed (downloading its image URL, decoding the bytes),
    so that the failed attempt is still booked at what was billed."""
    try:
        yield
    except EngineError as exc:
        if exc.billing is None:
            exc.billing = billing
        raise


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
