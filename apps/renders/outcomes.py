"""The reasons a job shows when an attempt concludes: "passed" only when the gate said so."""

from apps.renders.models import RenderAttempt


def preview_ready_reason(attempt: RenderAttempt) -> str:
    """The job's reason once `attempt` (a concluded preview) is ready."""
    note = attempt.unverified_reason
    return f"Preview ready ({note})." if note else f"Preview ready (verification: {attempt.status})."


def delivered_reason(attempt: RenderAttempt) -> str:
    """The job's reason when `attempt` (a final accepted by the pipeline) is delivered."""
    note = attempt.unverified_reason
    return f"Delivered; {note}." if note else "Verification passed; delivered."
