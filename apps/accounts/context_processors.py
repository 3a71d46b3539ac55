from django.http import HttpRequest


def roles(request: HttpRequest) -> dict[str, bool]:
    """What the navigation may show; every view still checks for itself."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_submit": user.has_perm("renders.submit_render"),
        "can_moderate": user.has_perm("moderation.moderate"),
        "can_manage_policy": user.has_perm("policy.manage_policy"),
        "can_manage_engines": user.has_perm("engines.manage_engines"),
    }
