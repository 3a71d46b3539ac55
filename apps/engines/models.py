from decimal import Decimal

from django.db import models


class AdapterKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in simulation (offline)"
    HTTP = "http", "Generic HTTP protocol"
    OPENAI = "openai", "OpenAI Images API"
    IMAGEN = "imagen", "Google Imagen (Gemini API / Vertex AI)"
    STABILITY = "stability", "Stability AI (SD3.5)"
    IDEOGRAM = "ideogram", "Ideogram"
    COMFYUI = "comfyui", "ComfyUI"


class Engine(models.Model):
    """An image engine: which adapter speaks to it and what it costs.

    The API key is never stored: `api_key_env` names the environment variable that holds it.
    `params` are adapter parameters (e.g. the built-in simulation's latency and typo rate,
    a vendor's quality or style). `price_table` refines `price_usd` by size and quality:
    {"1024x1024": {"standard": "0.04", "hd": "0.08"}} or {"1024x1024": "0.04"}.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    adapter = models.CharField(max_length=20, choices=AdapterKind.choices)
    model_id = models.CharField(max_length=100, blank=True)
    base_url = models.URLField(blank=True)
    api_key_env = models.CharField(max_length=100, blank=True)
    params = models.JSONField(default=dict, blank=True)
    price_usd = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    price_table = models.JSONField(default=dict, blank=True)
    connect_timeout_s = models.FloatField(default=5.0)
    read_timeout_s = models.FloatField(default=60.0)
    deadline_s = models.FloatField(default=120.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    concurrency_limit = models.PositiveIntegerField(default=8)
    capabilities = models.JSONField(default=dict, blank=True)
    is_simulation = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("manage_engines", "Can add and edit engines")]

    def __str__(self) -> str:
        return self.name or self.slug

    @property
    def label(self) -> str:
        return f"{self.name} (simulation)" if self.is_simulation else self.name
