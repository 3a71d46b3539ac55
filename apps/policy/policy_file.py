"""The policy file: `manage.py policy export` / `policy import FILE`.

A JSON superset of the product's file::

    {"tiers": {"preview": {"model": "sd3.5_turbo", "max_latency_ms": 800},
               "production": {"model": "imagen4_ultra", "max_latency_ms": 2200}},
     "verify_ocr": true}

Top level: ``tiers`` (by slug), optional ``engines`` (by slug), ``asset_classes`` (by slug),
``verify_ocr`` (a default for every tier in the file that does not set its own).

Engines: ``name, adapter, model, base_url, api_key_env, price_usd, price_table,
timeouts {connect_s, read_s, deadline_s}, max_retries, concurrency_limit, params,
capabilities, enabled, is_simulation``; each is checked with ``Engine.full_clean()``.

Tiers: every field of `selectors.tier_snapshot` (engines by slug; ``daily_budget_usd``,
``team_budgets`` {team: USD}, ``escalation_ladder``, queues, ``degrade_to`` …) plus ``model``/``preview_model``: a model
name resolved to an engine (below). ``model`` is the tier's final engine, and its preview
engine too when the tier is new or renders both stages on one engine.

Model names resolve, in order, to: an engine whose slug is the name (used as named, with a
note if it is disabled); an ENABLED engine whose model id is the name or its alias
(``MODEL_ALIASES``: ``sd3.5_turbo`` → ``sd3.5-large-turbo``, ``imagen4_ultra`` →
``imagen-4.0-ultra-generate-001`` …); and when no enabled engine serves a known model (the
vendor rows exist but stay disabled until their API key variable is set), the built-in
simulation standing in for its class (distilled/fast → ``builtin-turbo``, high-fidelity →
``builtin-ultra``, typography → ``builtin-typography``). The import says so in its notes, so
nobody believes a vendor is being called; import again once the vendor engine is enabled.
An unknown name is refused.

Import is all or nothing (one transaction); a bad value is refused with its path, e.g.
``tiers.production.daily_budget_usd: The daily budget cannot be negative.``. Tiers, engines
and classes the file does not mention are left as they are. The import writes one audit row
with the whole policy before and after.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from apps.engines.models import Engine
from apps.policy.editing import policy_change_record, team_budgets_replace
from apps.policy.models import AssetClass, Tier, WhenSpent
from apps.policy.selectors import asset_class_snapshot, plain, tier_snapshot
from apps.policy.services import ledger_sync_limit

# Vendor model names people write → the vendor's model id (engines.md §8).
MODEL_ALIASES: dict[str, str] = {
    "sd3.5_turbo": "sd3.5-large-turbo",
    "sd3.5_large_turbo": "sd3.5-large-turbo",
    "sd3.5_large": "sd3.5-large",
    "sd3.5_medium": "sd3.5-medium",
    "imagen4_ultra": "imagen-4.0-ultra-generate-001",
    "imagen4": "imagen-4.0-generate-001",
    "imagen4_fast": "imagen-4.0-fast-generate-001",
    "ideogram_v2": "V_2",
    "ideogram_v2_turbo": "V_2_TURBO",
    "ideogram_v3": "V_3",
    "dalle3": "dall-e-3",
    "dall-e-3": "dall-e-3",
    "gpt_image_1": "gpt-image-1",
    "gpt-image-1": "gpt-image-1",
}
# With no engine row for a known model: the built-in simulation that stands in for its class.
SIMULATION_STAND_IN: dict[str, str] = {
    "sd3.5-large-turbo": "builtin-turbo",
    "sd3.5-medium": "builtin-turbo",
    "imagen-4.0-fast-generate-001": "builtin-turbo",
    "sd3.5-large": "builtin-ultra",
    "imagen-4.0-generate-001": "builtin-ultra",
    "imagen-4.0-ultra-generate-001": "builtin-ultra",
    "dall-e-3": "builtin-ultra",
    "gpt-image-1": "builtin-ultra",
    "V_2": "builtin-typography",
    "V_2_TURBO": "builtin-typography",
    "V_3": "builtin-typography",
}
TIER_KEYS = {
    "name",
    "model",
    "preview_model",
    "preview_engine",
    "final_engine",
    "fallback_engine",
    "max_latency_ms",
    "daily_budget_usd",
    "max_attempts",
    "escalation_ladder",
    "verify_ocr",
    "auto_final",
    "final_with_preview",
    "hedge_previews",
    "preview_queue",
    "final_queue",
    "quality",
    "degrade_to",
    "degrade_at_percent",
    "when_spent",
    "team_budgets",
}
ENGINE_KEYS = {
    "name",
    "adapter",
    "model",
    "base_url",
    "api_key_env",
    "price_usd",
    "price_table",
    "timeouts",
    "max_retries",
    "concurrency_limit",
    "params",
    "capabilities",
    "enabled",
    "is_simulation",
}
CLASS_KEYS = {"name", "tier", "must_not_degrade"}
TOP_KEYS = {"version", "tiers", "engines", "asset_classes", "verify_ocr", "budget_timezone"}


class PolicyFileError(ValueError):
    """A refused policy file; `path` names the field (e.g. ``tiers.preview.model``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass
class ImportReport:
    engines: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    asset_classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _engine_snapshot(engine: Engine) -> dict[str, Any]:
    return {
        "name": engine.name,
        "adapter": engine.adapter,
        "model": engine.model_id,
        "base_url": engine.base_url,
        "api_key_env": engine.api_key_env,
        "price_usd": plain(engine.price_usd),
        "price_table": engine.price_table,
        "timeouts": {
            "connect_s": engine.connect_timeout_s,
            "read_s": engine.read_timeout_s,
            "deadline_s": engine.deadline_s,
        },
        "max_retries": engine.max_retries,
        "concurrency_limit": engine.concurrency_limit,
        "params": engine.params,
        "capabilities": engine.capabilities,
        "enabled": engine.enabled,
        "is_simulation": engine.is_simulation,
    }


def policy_export() -> dict[str, Any]:
    """The whole policy as the file's JSON (engines, tiers, asset classes)."""
    from apps.policy.services import budget_timezone

    tiers = list(Tier.objects.select_related("preview_engine", "final_engine", "fallback_engine", "degrade_to"))
    return {
        "version": 1,
        "verify_ocr": all(t.verify_ocr for t in tiers) if tiers else True,
        "budget_timezone": str(budget_timezone()),
        "engines": {e.slug: _engine_snapshot(e) for e in Engine.objects.all()},
        "tiers": {t.slug: {**tier_snapshot(t), "model": t.final_engine.model_id or t.final_engine.slug} for t in tiers},
        "asset_classes": {c.slug: asset_class_snapshot(c) for c in AssetClass.objects.select_related("tier")},
    }


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyFileError(path, f"expected an object, got {type(value).__name__}.")
    return value


def _keys(value: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise PolicyFileError(f"{path}.{unknown[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))}).")


def _money(value: object, path: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PolicyFileError(path, f"expected an amount in USD, got {value!r}.") from None
    if not amount.is_finite():
        raise PolicyFileError(path, f"expected an amount in USD, got {value!r}.")
    if amount < 0:
        raise PolicyFileError(path, "cannot be negative.")
    return amount


def _int(value: object, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyFileError(path, f"expected a whole number, got {value!r}.")
    if value < minimum:
        raise PolicyFileError(path, f"must be at least {minimum}.")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyFileError(path, f"expected true or false, got {value!r}.")
    return value


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise PolicyFileError(path, f"expected text, got {value!r}.")
    return value


def resolve_model(name: str, path: str, report: ImportReport) -> Engine:
    """A model name from the file → an engine (see the module docstring for the order)."""
    by_slug = Engine.objects.filter(slug=name).first()
    if by_slug:
        if not by_slug.enabled:
            report.notes.append(
                f"{path}: engine {by_slug.slug!r} is disabled; jobs routed to it will fail until it is enabled."
            )
        return by_slug
    model_id = MODEL_ALIASES.get(name, name)
    by_model = Engine.objects.filter(model_id=model_id).order_by("-enabled", "is_simulation", "slug").first()
    if by_model and by_model.enabled:
        return by_model
    stand_in = SIMULATION_STAND_IN.get(model_id)
    if by_model and not stand_in:
        report.notes.append(
            f"{path}: engine {by_model.slug!r} is disabled; jobs routed to it will fail until it is enabled."
        )
        return by_model
    if stand_in:
        if by_model:
            key = f" ({by_model.api_key_env} is not set)" if by_model.api_key_env else ""
            why = f"engine {by_model.slug!r} serves {model_id!r} but is disabled{key}"
            then = f"enable {by_model.slug!r} and import again to call the vendor"
        else:
            why = f"no engine serves {model_id!r}"
            then = f"add an engine with model {model_id!r} to call the vendor"
        engine = Engine.objects.filter(slug=stand_in).first()
        if engine:
            report.notes.append(f"{path}: {why}; using the built-in simulation {engine.slug!r} in its place ({then}).")
            return engine
        raise PolicyFileError(
            path,
            f"{why}, and the built-in simulation {stand_in!r} that stands in for it is not installed either: "
            f"{then} (or run seed_demo).",
        )
    known = ", ".join(sorted(MODEL_ALIASES))
    raise PolicyFileError(path, f"unknown model {name!r}: not an engine slug, model id or known alias ({known}).")


def _engine_ref(value: object, path: str, report: ImportReport) -> Engine:
    return resolve_model(_str(value, path), path, report)


def _clean(instance: Tier | Engine | AssetClass, path: str) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        raise PolicyFileError(f"{path}.{name}" if name != "__all__" else path, " ".join(messages)) from None


def _import_engine(slug: str, spec: dict[str, Any], report: ImportReport) -> None:
    path = f"engines.{slug}"
    _keys(spec, ENGINE_KEYS, path)
    engine = Engine.objects.filter(slug=slug).first() or Engine(slug=slug, name=slug)
    simple = {
        "name": "name",
        "adapter": "adapter",
        "model": "model_id",
        "base_url": "base_url",
        "api_key_env": "api_key_env",
    }
    for key, attr in simple.items():
        if key in spec:
            setattr(engine, attr, _str(spec[key], f"{path}.{key}"))
    if "price_usd" in spec:
        engine.price_usd = _money(spec["price_usd"], f"{path}.price_usd")
    if "price_table" in spec:
        table = _object(spec["price_table"], f"{path}.price_table")
        for size, entry in table.items():
            entries = entry.items() if isinstance(entry, dict) else [("", entry)]
            for quality, price in entries:
                _money(price, f"{path}.price_table.{size}{'.' + quality if quality else ''}")
        engine.price_table = table
    if "timeouts" in spec:
        timeouts = _object(spec["timeouts"], f"{path}.timeouts")
        _keys(timeouts, {"connect_s", "read_s", "deadline_s"}, f"{path}.timeouts")
        pairs = (("connect_s", "connect_timeout_s"), ("read_s", "read_timeout_s"), ("deadline_s", "deadline_s"))
        for key, attr in pairs:
            if key in timeouts:
                value = timeouts[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise PolicyFileError(f"{path}.timeouts.{key}", f"expected seconds above 0, got {value!r}.")
                setattr(engine, attr, float(value))
    for key in ("max_retries", "concurrency_limit"):
        if key in spec:
            setattr(engine, key, _int(spec[key], f"{path}.{key}", minimum=1 if key == "concurrency_limit" else 0))
    for key in ("params", "capabilities"):
        if key in spec:
            setattr(engine, key, _object(spec[key], f"{path}.{key}"))
    for key in ("enabled", "is_simulation"):
        if key in spec:
            setattr(engine, key, _bool(spec[key], f"{path}.{key}"))
    _clean(engine, path)
    engine.save()
    report.engines.append(slug)


def _import_tier(slug: str, spec: dict[str, Any], default_verify: bool | None, report: ImportReport) -> Tier:
    path = f"tiers.{slug}"
    _keys(spec, TIER_KEYS, path)
    tier = Tier.objects.filter(slug=slug).first()
    new = tier is None
    if tier is None:
        tier = Tier(slug=slug, name=slug.replace("-", " ").title())
    single_engine = new or tier.preview_engine_id == tier.final_engine_id
    if "model" in spec:
        engine = _engine_ref(spec["model"], f"{path}.model", report)
        tier.final_engine = engine
        if single_engine and "preview_model" not in spec and "preview_engine" not in spec:
            tier.preview_engine = engine
    for key in ("preview_model", "preview_engine"):
        if key in spec:
            tier.preview_engine = _engine_ref(spec[key], f"{path}.{key}", report)
    if "final_engine" in spec:
        tier.final_engine = _engine_ref(spec["final_engine"], f"{path}.final_engine", report)
    if "fallback_engine" in spec:
        value = spec["fallback_engine"]
        tier.fallback_engine = None if value is None else _engine_ref(value, f"{path}.fallback_engine", report)
    if "name" in spec:
        tier.name = _str(spec["name"], f"{path}.name")
    if "daily_budget_usd" in spec:
        tier.daily_budget_usd = _money(spec["daily_budget_usd"], f"{path}.daily_budget_usd")
    for key, minimum in (("max_latency_ms", 1), ("max_attempts", 1), ("degrade_at_percent", 0)):
        if key in spec:
            setattr(tier, key, _int(spec[key], f"{path}.{key}", minimum=minimum))
    for key in ("auto_final", "final_with_preview", "hedge_previews", "verify_ocr"):
        if key in spec:
            setattr(tier, key, _bool(spec[key], f"{path}.{key}"))
    if "verify_ocr" not in spec and default_verify is not None:
        tier.verify_ocr = default_verify
    for key in ("preview_queue", "final_queue", "quality"):
        if key in spec:
            setattr(tier, key, _str(spec[key], f"{path}.{key}"))
    if "when_spent" in spec:
        value = _str(spec["when_spent"], f"{path}.when_spent")
        if value not in WhenSpent.values:
            raise PolicyFileError(f"{path}.when_spent", f"expected one of {', '.join(WhenSpent.values)}.")
        tier.when_spent = value
    if "escalation_ladder" in spec:
        tier.escalation_ladder = spec["escalation_ladder"]
    budgets = None
    if "team_budgets" in spec:
        budgets = {}
        for team, amount in _object(spec["team_budgets"], f"{path}.team_budgets").items():
            if slugify(team) != team or not team:
                raise PolicyFileError(f"{path}.team_budgets.{team}", "a team is named by a slug (letters, digits, -).")
            budgets[team] = _money(amount, f"{path}.team_budgets.{team}")
    if not tier.preview_engine_id or not tier.final_engine_id:
        raise PolicyFileError(f"{path}.model", "a new tier needs engines: give `model` (or preview/final engines).")
    _clean(tier, path)
    tier.save()
    if budgets is not None:
        team_budgets_replace(tier=tier, budgets=budgets)
    ledger_sync_limit(tier=tier)
    report.tiers.append(slug)
    return tier


def policy_import(*, data: object, by: AbstractBaseUser | None = None, actor_name: str = "") -> ImportReport:
    """Apply a policy file, all or nothing. Raises PolicyFileError naming the bad field."""
    top = _object(data, "(file)")
    _keys(top, TOP_KEYS, "(file)")
    report = ImportReport()
    default_verify = _bool(top["verify_ocr"], "verify_ocr") if "verify_ocr" in top else None
    with transaction.atomic():
        before = policy_export()
        for slug, spec in _object(top.get("engines", {}), "engines").items():
            _import_engine(slug, _object(spec, f"engines.{slug}"), report)
        tier_specs = _object(top.get("tiers", {}), "tiers")
        tiers = {
            slug: _import_tier(slug, _object(spec, f"tiers.{slug}"), default_verify, report)
            for slug, spec in tier_specs.items()
        }
        for slug, spec in tier_specs.items():  # links between tiers, once all exist
            if "degrade_to" in spec:
                target = spec["degrade_to"]
                tier = tiers[slug]
                if target is None:
                    tier.degrade_to = None
                else:
                    found = Tier.objects.filter(slug=_str(target, f"tiers.{slug}.degrade_to")).first()
                    if found is None:
                        raise PolicyFileError(f"tiers.{slug}.degrade_to", f"there is no tier {target!r}.")
                    tier.degrade_to = found
                _clean(tier, f"tiers.{slug}")
                tier.save(update_fields=["degrade_to"])
        for slug, spec in _object(top.get("asset_classes", {}), "asset_classes").items():
            path = f"asset_classes.{slug}"
            spec = _object(spec, path)
            _keys(spec, CLASS_KEYS, path)
            klass = AssetClass.objects.filter(slug=slug).first() or AssetClass(slug=slug, name=slug.title())
            if "tier" in spec:
                found = Tier.objects.filter(slug=_str(spec["tier"], f"{path}.tier")).first()
                if found is None:
                    raise PolicyFileError(f"{path}.tier", f"there is no tier {spec['tier']!r}.")
                klass.tier = found
            elif klass.tier_id is None:
                raise PolicyFileError(f"{path}.tier", "a new asset class needs a tier.")
            if "name" in spec:
                klass.name = _str(spec["name"], f"{path}.name")
            if "must_not_degrade" in spec:
                klass.must_not_degrade = _bool(spec["must_not_degrade"], f"{path}.must_not_degrade")
            _clean(klass, path)
            klass.save()
            report.asset_classes.append(slug)
        policy_change_record(
            kind="import", slug="(policy file)", before=before, after=policy_export(), by=by, actor_name=actor_name
        )
    return report
