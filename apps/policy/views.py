from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.access import permission_required


@permission_required("policy.manage_policy")
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "core/placeholder.html", {"title": "Policy"})
