from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# A LoRA's strength is a multiplier on its weights: ComfyUI's LoraLoader accepts -100..100, but
# trained adapters are used between 0 (off) and about 1.5; past 2 they only burn the picture.
STRENGTH_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(2.0)]


class Adapter(models.Model):
    """A small trained adapter (a LoRA, not the general model's weights) for one base model.

    `reference` is what an engine is sent, and each engine kind reads it its own way: the LoRA
    file name in ComfyUI's `models/loras` folder (`lora_name` of a LoraLoader node), the value of
    the generic HTTP protocol's `adapter` field, or a vendor's fine-tuned model id for a vendor
    that serves one. `base_model` names the model it was trained on ("sd_xl_base_1.0",
    "flux1-dev"): an adapter only fits that model. `default_strength` is the LoRA multiplier
    (model and clip) used unless the template overrides it.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    base_model = models.CharField(max_length=200, help_text="The model it was trained on; it fits only that one.")
    reference = models.CharField(
        max_length=300,
        help_text="What the engine is sent: a LoRA file name (ComfyUI), the generic protocol's `adapter`, "
        "or a vendor's fine-tuned model id.",
    )
    default_strength = models.FloatField(default=1.0, validators=STRENGTH_VALIDATORS)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_adapters", "Can add, edit and attach adapters")]

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    """A render template: a prompt with {slot} placeholders and where each slot's text goes.

    `slots` is a list of {"name", "label", "max_length", "region": [x0, y0, x1, y1]} with the
    region as fractions of the canvas. `verify_thresholds` overrides the gate's defaults.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    prompt_template = models.TextField()
    negative_prompt = models.TextField(blank=True)
    slots = models.JSONField(default=list)
    width = models.PositiveIntegerField(default=768)
    height = models.PositiveIntegerField(default=512)
    palette = models.JSONField(default=list, blank=True)
    guidance_tokens = models.TextField(blank=True)
    # The active adapter; changed only through `template_set_adapter`, which writes the history.
    adapter = models.ForeignKey(Adapter, on_delete=models.PROTECT, null=True, blank=True, related_name="templates")
    adapter_strength = models.FloatField(
        null=True, blank=True, validators=STRENGTH_VALIDATORS, help_text="Blank: the adapter's default strength."
    )
    composite_text = models.BooleanField(default=False)
    verify_thresholds = models.JSONField(default=dict, blank=True)
    asset_class = models.SlugField(default="editorial")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def slot_names(self) -> list[str]:
        return [slot["name"] for slot in self.slots]

    @property
    def effective_adapter_strength(self) -> float | None:
        """The strength sent with the active adapter (None when there is none)."""
        if self.adapter is None:
            return None
        return self.adapter_strength if self.adapter_strength is not None else self.adapter.default_strength


class TemplateAdapterChange(models.Model):
    """One change of a template's adapter: which adapter (None = removed) at what strength, from
    when, and who made it. The active adapter at a time t is the latest row with `changed_at <= t`."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="adapter_changes")
    adapter = models.ForeignKey(Adapter, on_delete=models.PROTECT, null=True, blank=True, related_name="changes")
    strength = models.FloatField(null=True, blank=True)  # as set on the template (None = adapter's default)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["template", "-changed_at"], name="catalog_adapter_change_recent")]

    def __str__(self) -> str:
        return f"{self.template_id}: {self.adapter_id or 'none'} at {self.changed_at:%Y-%m-%d %H:%M}"
