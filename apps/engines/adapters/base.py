"""What every HTTP adapter shares: the key, the URL, the call policy, sizes and the result."""

import base64
import binascii
import dataclasses
import os
from typing import Any

from apps.engines import sizes, transport
from apps.engines.models import Engine
from apps.engines.types import (
    BadResponseError,
    Billing,
    EngineRequest,
    EngineResult,
    MisconfiguredError,
    billed_on_failure,
)


class HttpAdapter:
    """Base for the vendor adapters. Subclasses set `default_base_url` and implement `call`."""

    default_base_url = ""
    needs_key = True

    def __init__(self, engine: Engine):
        self.engine = engine
        self.params: dict[str, Any] = dict(engine.params or {})
        self.policy = transport.CallPolicy.for_engine(engine)

    # --- configuration ----------------------------------------------------------------
    def api_key(self) -> str:
        name = self.engine.api_key_env
        if not name:
            raise MisconfiguredError(f"Engine {self.engine.slug} names no environment variable for its API key.")
        value = os.environ.get(name, "")
        if not value:
            raise MisconfiguredError(f"The environment variable {name} (API key of {self.engine.slug}) is not set.")
        return value

    def base_url(self) -> str:
        return (self.engine.base_url or self.default_base_url).rstrip("/")

    def model_id(self, default: str = "") -> str:
        model = self.engine.model_id or default
        if not model:
            raise MisconfiguredError(f"Engine {self.engine.slug} has no model id.")
        return model

    # --- the call ---------------------------------------------------------------------
    def generate(self, request: EngineRequest) -> EngineResult:
        deadline = transport.Deadline(self.policy.deadline_s)
        stats = transport.CallStats()
        if self.needs_key:
            self.api_key()  # fail before taking a slot
        # Engines sharing a vendor-side limit (Ideogram: 10 in flight per organisation) name
        # one concurrency_group; the limit is then the group's.
        group = str(self.params.get("concurrency_group") or self.engine.slug)
        with transport.engine_slot(slug=group, limit=self.engine.concurrency_limit, deadline=deadline):
            result = self.call(request, deadline=deadline, stats=stats)
        with billed_on_failure(result.billing):  # the vendor billed the call that returned these bytes
            mime, width, height = transport.check_image(result.image)
            result.mime_type = mime
            image, mime, fitted = sizes.fit_to_canvas(
                image=result.image, mime_type=mime, width=request.width, height=request.height
            )
        result.sent = {
            "asked": f"{request.width}x{request.height}",
            "returned": f"{width}x{height}",
            "fitted": fitted,
            "model": self.engine.model_id,
            "requests": stats.requests,
            "retries": stats.retries,
            **result.sent,
        }
        if result.billing is not None:
            result.billing = dataclasses.replace(result.billing, pixels=f"{width}x{height}")
        result.image, result.mime_type = image, mime
        result.width, result.height = request.width, request.height
        result.timings_ms = {
            **stats.timings_ms,
            "total": round((self.policy.deadline_s - deadline.remaining()) * 1000, 1),
        }
        return result

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        raise NotImplementedError

    def send(
        self, method: str, url: str, *, deadline: transport.Deadline, stats: transport.CallStats, **kwargs: Any
    ) -> transport.Response:
        return transport.send(
            method, url, policy=self.policy, deadline=deadline, stats=stats, check=self.check, **kwargs
        )

    def download(
        self, url: str, *, deadline: transport.Deadline, stats: transport.CallStats, allow_hosts: list[str]
    ) -> bytes:
        """GET a result URL the vendor handed out (no key sent: such URLs are signed)."""
        return transport.send(
            "GET",
            url,
            policy=self.policy,
            deadline=deadline,
            stats=stats,
            check=self.check_download,
            allow_hosts=allow_hosts,
        ).body

    def check_download(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        if response.status in (408, 429) or response.status >= 500:
            raise transport.status_error(response, f"{self.engine.name}: image download: HTTP {response.status}")
        raise BadResponseError(
            f"{self.engine.name}: the result image could not be downloaded (HTTP {response.status}; "
            "the vendor's URL may have expired).",
            status=response.status,
        )

    def check(self, response: transport.Response) -> None:
        """Raise the vendor's error for a non-2xx answer (subclasses read their error format)."""
        if not 200 <= response.status < 300:
            raise transport.status_error(
                response, f"{self.engine.name}: HTTP {response.status}: {transport.error_text(response)}"
            )

    # --- helpers ----------------------------------------------------------------------
    def size_options(self, defaults: list[sizes.SizeOption]) -> list[sizes.SizeOption]:
        """Allowed sizes: the adapter's defaults, or params["sizes"] (["1024x1024", …]) when set."""
        configured = self.params.get("sizes")
        if not configured:
            return defaults
        out = []
        for value in configured:
            w, h = (int(x) for x in str(value).lower().split("x"))
            out.append(sizes.SizeOption(value=str(value), width=w, height=h))
        return out

    @staticmethod
    def b64(value: Any, *, what: str) -> bytes:
        if not isinstance(value, str) or not value:
            raise BadResponseError(f"The engine's answer has no {what}.")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadResponseError(f"The engine's {what} is not valid base64.") from exc

    @staticmethod
    def result(
        *,
        image: bytes,
        seed_used: int | None,
        request_id: str = "",
        billed_units: float = 1.0,
        sent: dict[str, Any],
        billing: Billing | None = None,
    ) -> EngineResult:
        return EngineResult(
            billing=billing,
            image=image,
            mime_type="",
            seed_used=seed_used,
            width=0,
            height=0,
            vendor_request_id=request_id,
            billed_units=billed_units,
            sent=sent,
        )
