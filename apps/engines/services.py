"""Engine calls and engine configuration writes. No other app talks to a vendor."""

import random
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.audit import config_change_record, model_snapshot
from apps.core.hotsql import rows_insert
from apps.engines import pricing
from apps.engines.adapters import adapter_for
from apps.engines.models import Engine, EngineCall
from apps.engines.types import AdapterCrashError, EngineError, EngineRequest, EngineResult, MisconfiguredError

TEST_PROMPT = 'A clean poster test card with the word "RenderHub" in bold letters'


def engine_generate(
    *,
    engine: Engine,
    request: EngineRequest,
    source: str = EngineCall.Source.PIPELINE,
    record_success: bool = True,
) -> EngineResult:
    """Generate one image with `engine`. Raises an EngineError subclass on failure.

    Writes one EngineCall row (success, latency, error) for the engine's health, whatever
    the outcome; an unsaved engine (the engine server's ad-hoc built-in) records nothing.
    `record_success=False`: a successful call's row is left unsaved on the result
    (`health_record`) for the caller to save with `engine_call_save` in the transaction that
    stores the image (one commit fewer per call); a failed call's row is written at once.
    A retired engine (`retired_on` reached) raises MisconfiguredError with the vendor's date
    and note, without calling the vendor.
    """
    started_at = timezone.now()
    started = time.perf_counter()
    try:
        if engine.is_retired(timezone.localdate()):
            raise MisconfiguredError(engine.retirement_message)
        try:
            adapter = adapter_for(engine)
        except (TypeError, ValueError) as exc:
            # Params written around the engine form (Django admin, an import) that the adapter
            # cannot use: a permanent error now, not an attempt left "running" for the sweeper.
            raise MisconfiguredError(f"{engine.name}: unusable params ({exc}).") from exc
        try:
            result = adapter.generate(request)
        except EngineError:
            raise
        except Exception as exc:
            # Whatever else an adapter raises ends the call now with its real reason, instead
            # of escaping the pipeline and leaving the attempt "running" for the sweeper.
            raise AdapterCrashError(f"{engine.name} raised {type(exc).__name__}: {exc}") from exc
    except EngineError as exc:
        _record(engine, started_at, started, ok=False, error=exc, source=source, price_unknown=_unpriced(engine, exc))
        raise
    call = _record(
        engine,
        started_at,
        started,
        ok=True,
        retries=int(result.sent.get("retries", 0) or 0),
        source=source,
        price_unknown=_unpriced(engine, result),
        save=record_success,
    )
    if not record_success:
        result.health_record = call
    return result


def _unpriced(engine: Engine, outcome: EngineResult | EngineError) -> str:
    """Why this call's cost is unknown, for the engine's health record ("" when it is known
    or nothing was billed). Priced as the pipeline prices the attempt (pricing.price_attempt)."""
    if isinstance(outcome, EngineError):
        if outcome.billing is None:
            if outcome.possibly_billed and not pricing.zero_price_allowed(engine):
                return "The request reached the vendor and got no answer: the vendor may have billed it."
            return ""
        billing = outcome.billing
    else:
        billing = outcome.billing
    price = pricing.price_attempt(engine, billing)
    return price.detail[:300] if price.source == "unknown" else ""


CALLS_KEPT_PER_ENGINE = 5000
PRUNE_PROBABILITY = 0.002  # ~1 in 500 calls trims the engine's history


def engine_calls_prune(*, engine: Engine, keep: int = CALLS_KEPT_PER_ENGINE) -> int:
    """Delete all but the engine's `keep` newest EngineCall rows; returns how many went.

    Health reads the last 200 calls, so older rows only cost space. Called now and then
    from `engine_generate` itself, so no periodic task is needed.
    """
    cutoff = (
        EngineCall.objects.filter(engine=engine)
        .order_by("-started_at")
        .values_list("started_at", flat=True)[keep : keep + 1]
    )
    first_old = next(iter(cutoff), None)
    if first_old is None:
        return 0
    deleted, _ = EngineCall.objects.filter(engine=engine, started_at__lte=first_old).delete()
    return deleted


def _record(
    engine: Engine,
    started_at: Any,
    started: float,
    *,
    ok: bool,
    source: str,
    error: EngineError | None = None,
    retries: int = 0,
    price_unknown: str = "",
    save: bool = True,
) -> EngineCall | None:
    if engine.pk is None:
        return None
    call = EngineCall(
        engine=engine,
        started_at=started_at,
        ok=ok,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        error_kind=error.kind if error else "",
        error=error.message[:2000] if error else "",
        status_code=error.status if error and error.status and 0 < error.status < 1000 else None,
        retries=retries,
        source=source,
        price_unknown=price_unknown,
    )
    if save:
        engine_call_save(call)
    return call


def engine_call_save(call: EngineCall | None) -> None:
    """Write a call's health record (once: a saved one is left alone); now and then trim the
    engine's history (`engine_calls_prune`)."""
    if call is None or call.pk is not None:
        return
    # One plain INSERT (apps.core.hotsql): one row per engine call, and the ORM's save took
    # longer to build it than PostgreSQL to run it (issue 13).
    rows_insert([call])
    if random.random() < PRUNE_PROBABILITY:
        engine_calls_prune(engine=call.engine)


@dataclass(kw_only=True)
class EngineTestOutcome:
    ok: bool
    result: EngineResult | None = None
    error: EngineError | None = None
    elapsed_ms: float = 0.0

    @property
    def data_uri(self) -> str:
        import base64

        if self.result is None:
            return ""
        return f"data:{self.result.mime_type};base64,{base64.b64encode(self.result.image).decode()}"


def engine_test(*, engine: Engine, width: int = 512, height: int = 512, seed: int = 1234) -> EngineTestOutcome:
    """Render one test image synchronously (the "Test engine" button); records an EngineCall."""
    started = time.perf_counter()
    request = EngineRequest(prompt=TEST_PROMPT, seed=seed, width=width, height=height)
    try:
        result = engine_generate(engine=engine, request=request, source=EngineCall.Source.TEST)
    except EngineError as exc:
        return EngineTestOutcome(ok=False, error=exc, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
    return EngineTestOutcome(ok=True, result=result, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))


AUDIT_EXCLUDE = ("id",)


def engine_snapshot(engine: Engine) -> dict[str, Any]:
    """The engine's configuration as JSON for the audit log (the key is never stored, so
    never in it: only the name of its environment variable)."""
    return model_snapshot(engine, exclude=AUDIT_EXCLUDE)


def engine_save(*, engine: Engine, before: dict[str, Any] | None, by: AbstractBaseUser | None) -> Engine:
    """Save a validated new or edited engine and write its audit row (before/after) in the
    same transaction. `before` is `engine_snapshot` taken before the edit (None: new)."""
    with transaction.atomic():
        engine.save()
        engine.refresh_from_db()  # snapshot what was stored (0.01 is stored as 0.0100), as `before` was
        config_change_record(kind="engine", slug=engine.slug, before=before, after=engine_snapshot(engine), by=by)
    return engine
