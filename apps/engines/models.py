import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from apps.engines.urlcheck import validate_engine_url


class AdapterKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in simulation (offline)"
    HTTP = "http", "Generic HTTP protocol"
    OPENAI = "openai", "OpenAI Images API"
    IMAGEN = "imagen", "Google Imagen (Vertex AI / Gemini API)"
    GEMINI = "gemini", "Google Gemini image (Gemini API generateContent)"
    STABILITY = "stability", "Stability AI (SD3.5)"
    IDEOGRAM = "ideogram", "Ideogram"
    COMFYUI = "comfyui", "ComfyUI"
    NULL = "null", "Null (benchmark engine: a cached image, no rendering)"


class Engine(models.Model):
    """An image engine: which adapter speaks to it and what it costs.

    The API key is never stored: `api_key_env` names the environment variable that holds it.
    `params` are adapter parameters (e.g. the built-in simulation's latency and typo rate,
    a vendor's quality or style). `price_table` refines `price_usd` by size and quality:
    {"1024x1024": {"standard": "0.04", "hd": "0.08"}} or {"1024x1024": "0.04"}, with "*" for
    any size ({"*": {"TURBO": "0.03"}}); `pricing.price_attempt` reads it.

    `retired_on` is the vendor's shutdown date: from that day the engine is shown but not
    routable (`engine_generate` refuses it without calling the vendor, with
    `retirement_message`). `lifecycle_note` is the vendor's word on it, shown on the pages.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    adapter = models.CharField(max_length=20, choices=AdapterKind.choices)
    model_id = models.CharField(max_length=100, blank=True)
    base_url = models.URLField(blank=True, validators=[validate_engine_url])
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "Name an environment variable (A–Z, 0–9, _), not a key.")],
    )
    params = models.JSONField(default=dict, blank=True)
    price_usd = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    price_table = models.JSONField(default=dict, blank=True)
    connect_timeout_s = models.FloatField(default=5.0, validators=[MinValueValidator(0.1)])
    read_timeout_s = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    deadline_s = models.FloatField(default=120.0, validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(default=2)
    concurrency_limit = models.PositiveIntegerField(default=8)
    capabilities = models.JSONField(default=dict, blank=True)
    is_simulation = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    retired_on = models.DateField(
        null=True, blank=True, help_text="The vendor's shutdown date: from then on the engine is not routable."
    )
    lifecycle_note = models.CharField(
        max_length=300, blank=True, help_text="The vendor's word on this model's lifecycle."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("manage_engines", "Can add and edit engines")]

    def __str__(self) -> str:
        return self.name or self.slug

    def clean(self) -> None:
        """Cross-field checks, so an importer calling full_clean() gets a message per field."""
        from apps.engines.validation import engine_problems

        problems = engine_problems(self)
        if problems:
            raise ValidationError(problems)

    @property
    def simulated(self) -> bool:
        """A built-in simulation (or the null benchmark engine): its pictures are not a vendor's."""
        return self.is_simulation or self.adapter in (AdapterKind.BUILTIN, AdapterKind.NULL)

    @property
    def label(self) -> str:
        return engine_label(name=self.name, adapter=self.adapter, is_simulation=self.is_simulation)

    def is_retired(self, today: datetime.date | None = None) -> bool:
        return self.retired_on is not None and self.retired_on <= (today or datetime.date.today())

    @property
    def retirement_message(self) -> str:
        """Why a retired engine cannot be used, with the vendor's date ("" when not retired)."""
        if self.retired_on is None:
            return ""
        when = self.retired_on.isoformat()
        note = f" {self.lifecycle_note}" if self.lifecycle_note else ""
        if not self.is_retired():
            return f"{self.name} ({self.model_id}) will be retired by its vendor on {when}.{note}"
        return f"{self.name} ({self.model_id}) was retired by its vendor on {when} and cannot be used.{note}"


class EngineCall(models.Model):
    """One call of `engine_generate`: the engine's own health record.

    Written by the engines app itself (it may not read the renders app's attempts), for the
    health shown on the engine pages: success rate, latency percentiles, last error.
    """

    class Source(models.TextChoices):
        PIPELINE = "pipeline", "Pipeline"
        TEST = "test", "Test button"
        SERVER = "server", "Engine server"

    engine = models.ForeignKey(Engine, on_delete=models.CASCADE, related_name="calls")
    started_at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    latency_ms = models.FloatField()
    error_kind = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PIPELINE)
    # Why the call's cost is unknown ("" when it was priced or billed nothing): a delivered or
    # billed image that neither usage nor the price table prices, or a paid call that reached
    # the vendor and timed out. The engine page counts these (issue 9: flagged, never $0).
    price_unknown = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["engine", "-started_at"], name="engines_call_recent")]

    def __str__(self) -> str:
        return f"{self.engine_id} {'ok' if self.ok else self.error_kind} {self.latency_ms:.0f} ms"


def engine_label(*, name: str, adapter: str, is_simulation: bool) -> str:
    """An engine's name as every page shows it: "(benchmark engine)" for the null adapter,
    "(simulation)" for a simulation, else the bare name. For callers holding `.values()` rows."""
    if adapter == AdapterKind.NULL:
        return f"{name} (benchmark engine)"
    return f"{name} (simulation)" if is_simulation else name
