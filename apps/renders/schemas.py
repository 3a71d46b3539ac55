"""The JSON API's request and response bodies as pydantic models, and the limits they enforce.

The same limits bind the web forms (forms.py) and the moderation re-render form, so no path
accepts what another refuses. The OpenAPI document (openapi.py) is built from these models.

Limits (characters are Unicode code points):
- `prompt` at most MAX_PROMPT_CHARS = 4,000: OpenAI's documented limit for DALL·E 3 and Ideogram's
  for negative prompts (shared/research/engines.md §1.1, §5), so one prompt fits every vendor
  that counts characters; a 200 kB title once took 26 s per engine call.
- at most MAX_SLOTS = 16 text slots, names of 1–40 letters, digits, "_" or "-", each text at most
  MAX_SLOT_CHARS = 200 characters (a template's slot may set a lower `max_length`).
- `seed` 0 … 2,147,483,647 (the vendors' range); `size` "WxH", each side 64 … RENDERHUB_MAX_SIDE.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from apps.renders.pipeline.attempts import MAX_SEED

MAX_PROMPT_CHARS = 4000
MAX_NEGATIVE_PROMPT_CHARS = 4000
MAX_SLOTS = 16
MAX_SLOT_CHARS = 200
SLOT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]{1,50}$"

SlotName = Annotated[str, StringConstraints(pattern=SLOT_NAME_PATTERN)]
SlotText = Annotated[str, StringConstraints(max_length=MAX_SLOT_CHARS)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]


class RenderRequest(BaseModel):
    """Body of `POST /api/v1/renders`, `POST /api/models/render` and `POST /api/models/<engine>`.

    Either a free `prompt` (its "quoted" words are the text to verify) or a `template` with its
    `texts`. Types are strict: "12" is not a seed and true is not a number.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="Free prompt; quoted words must appear.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Omit for a random seed.")
    size: str | None = Field(
        None, pattern=r"^[0-9]{1,5}[xX][0-9]{1,5}$", description="WxH in pixels.", examples=["768x512"]
    )
    template: Slug | None = Field(None, description="Template slug; its slots are filled from `texts`.")
    texts: dict[SlotName, SlotText] = Field(
        default_factory=dict, max_length=MAX_SLOTS, description="Slot name → exact text."
    )
    tier: Slug | None = Field(None, description="Tier slug; default: routed by the asset class.")
    asset_class: Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]{0,50}$")] = Field(
        "", description="Asset class slug (routing); default editorial."
    )
    negative_prompt: str = Field(
        "",
        max_length=MAX_NEGATIVE_PROMPT_CHARS,
        description="Accepted for the generic engine protocol's shape; RenderHub does not use it.",
    )


class JobAccepted(BaseModel):
    """202 body: the job was accepted (or deferred); poll `url`."""

    id: str
    status: str
    url: str
    defer_until: str | None = None
    reason: str | None = None


class ApiErrorBody(BaseModel):
    """Every 4xx/5xx of the JSON API."""

    error: str
    field: str | None = Field(None, description="The offending field (dotted path), when there is one.")
