from django import template

from apps.renders.models import RenderAttempt, RenderJob
from apps.renders.selectors import job_best_attempt

register = template.Library()


@register.filter
def best_attempt(job: RenderJob) -> RenderAttempt | None:
    """The image a list shows for a job: its latest final with an image, else its preview."""
    return job_best_attempt(job)
