from django.db import models


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
    adapter_ref = models.CharField(max_length=200, blank=True)
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
